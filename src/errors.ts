import { status as GrpcStatus } from "@grpc/grpc-js";

/** Every failure tollgate reports carries one of these codes; metrics use it as the reason label. */
export const ERROR_CODES = {
  request_parse_error: GrpcStatus.INVALID_ARGUMENT,
  request_too_large: GrpcStatus.RESOURCE_EXHAUSTED,
  policy_not_loaded: GrpcStatus.UNAVAILABLE,
  policy_eval_error: GrpcStatus.INTERNAL,
  policy_build_error: GrpcStatus.FAILED_PRECONDITION,
  decision_error: GrpcStatus.INTERNAL,
  limit_store_unavailable: GrpcStatus.UNAVAILABLE,
  /** Shed by admission control: more work than the process takes at once. Never counted, never allowed. */
  overloaded: GrpcStatus.RESOURCE_EXHAUSTED,
  config_error: GrpcStatus.FAILED_PRECONDITION,
  /** A reservation handle (src/limits/reservation.ts) missing, malformed, forged or too old: nothing is reconciled. */
  reservation_invalid: GrpcStatus.INVALID_ARGUMENT,
  secret_unavailable: GrpcStatus.INTERNAL,
  internal_error: GrpcStatus.INTERNAL,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class TollgateError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TollgateError";
    this.code = code;
  }

  get grpcStatus(): GrpcStatus {
    return ERROR_CODES[this.code];
  }

  /** Wraps anything thrown into a TollgateError, keeping the original as cause. */
  static from(err: unknown, code: ErrorCode = "internal_error"): TollgateError {
    if (err instanceof TollgateError) return err;
    const message = err instanceof Error ? err.message : typeof err === "string" ? err : JSON.stringify(err);
    return new TollgateError(code, message, { cause: err });
  }
}
