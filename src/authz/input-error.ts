import { TollgateError } from "../errors.js";

/** Thrown inputs that exceed a bound carry the HTTP status the client should see. */
export class InputTooLarge extends TollgateError {
  readonly httpStatus: number;
  constructor(message: string, httpStatus: number) {
    super("request_too_large", message);
    this.httpStatus = httpStatus;
  }
}
