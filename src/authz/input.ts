import type { CheckRequest } from "../gen/envoy/service/auth/v3/external_auth.js";
import { TollgateError } from "../errors.js";
import { parseBody } from "./body/index.js";
import { parsePath } from "./path.js";
import { attributesToJson } from "./protojson.js";

export interface InputLimits {
  maxBodyBytes: number;
  maxHeaderCount: number;
  maxHeaderBytes: number;
  maxPathBytes: number;
}

export interface InputOptions {
  skipBodyParse: boolean;
  limits: InputLimits;
}

/** The input document, as opa-envoy-plugin builds it for ext_authz v3. */
export interface PolicyInput {
  attributes: Record<string, unknown>;
  version: { ext_authz: "v3"; encoding: "protojson" };
  parsed_path: string[];
  parsed_query: Record<string, string[]>;
  parsed_body?: unknown;
  truncated_body?: boolean;
  source_principal?: string;
  [extra: string]: unknown;
}

const VERSION = Object.freeze({ ext_authz: "v3", encoding: "protojson" } as const);

/** Thrown inputs that exceed a bound carry the HTTP status the client should see. */
export class InputTooLarge extends TollgateError {
  readonly httpStatus: number;
  constructor(message: string, httpStatus: number) {
    super("request_too_large", message);
    this.httpStatus = httpStatus;
  }
}

function checkBounds(headers: Record<string, string>, path: string, limits: InputLimits): void {
  if (path.length > limits.maxPathBytes) throw new InputTooLarge(`path longer than ${limits.maxPathBytes} bytes`, 414);
  let count = 0;
  let size = 0;
  for (const k in headers) {
    count++;
    size += k.length + (headers[k]?.length ?? 0);
  }
  if (count > limits.maxHeaderCount) throw new InputTooLarge(`more than ${limits.maxHeaderCount} headers`, 431);
  if (size > limits.maxHeaderBytes) throw new InputTooLarge(`headers larger than ${limits.maxHeaderBytes} bytes`, 431);
}

/** CheckRequest → input document. Throws TollgateError("request_parse_error" | "request_too_large"). */
export function buildInput(req: CheckRequest, options: InputOptions): PolicyInput {
  const attrs = req.attributes;
  const http = attrs?.request?.http;
  const headers = http?.headers ?? {};
  const path = http?.path ?? "";
  checkBounds(headers, path, options.limits);

  const { parsedPath, parsedQuery } = parsePath(path);
  const input: PolicyInput = {
    attributes: attrs ? attributesToJson(attrs) : {},
    version: VERSION,
    parsed_path: parsedPath,
    parsed_query: parsedQuery,
  };
  if (!options.skipBodyParse) {
    const { parsedBody, truncated } = parseBody({
      headers,
      body: http?.body ?? "",
      rawBody: http?.rawBody ?? new Uint8Array(),
      maxBodyBytes: options.limits.maxBodyBytes,
    });
    input.parsed_body = parsedBody;
    input.truncated_body = truncated;
  }
  const principal = attrs?.source?.principal;
  if (principal) input.source_principal = principal;
  return input;
}
