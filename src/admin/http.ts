import type { IncomingMessage, ServerResponse } from "node:http";
import { TollgateError, type ErrorCode } from "../errors.js";
import { maskValue } from "../observability/mask.js";

export const MAX_BODY_BYTES = 16 * 1024;

const API_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
} as const;

export function send(res: ServerResponse, status: number, body: string | Buffer, contentType: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...API_HEADERS, "content-type": contentType, "content-length": Buffer.byteLength(body), ...extra });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

/** Every JSON answer goes through the masking step: the admin API is one more copy that leaves the process. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, `${JSON.stringify(maskValue(value), null, 2)}\n`, "application/json; charset=utf-8");
}

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  request_parse_error: 400,
  request_too_large: 413,
  config_error: 400,
  policy_not_loaded: 409,
  policy_build_error: 409,
  limit_store_unavailable: 503,
};

export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

/** Answers a TollgateError with its mapped HTTP status; anything else is a 500 with a generic message. */
export function httpStatusOf(e: TollgateError): number {
  return HTTP_STATUS[e.code] ?? 500;
}

export function sendFailure(res: ServerResponse, err: unknown): void {
  const e = TollgateError.from(err);
  const status = httpStatusOf(e);
  sendError(res, status, e.code, status === 500 ? "internal error" : e.message);
}

/** Reads a small JSON object body. An empty body is {}; anything larger than MAX_BODY_BYTES is refused while streaming. */
export function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new TollgateError("request_too_large", `request body over ${MAX_BODY_BYTES} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data");
        req.resume();
        reject(new TollgateError("request_too_large", `request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once("error", (err) => reject(TollgateError.from(err, "request_parse_error")));
    req.once("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return resolve({});
      try {
        const value: unknown = JSON.parse(text);
        if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("expected a JSON object");
        resolve(value as Record<string, unknown>);
      } catch (err) {
        reject(new TollgateError("request_parse_error", `body: ${TollgateError.from(err).message}`));
      }
    });
  });
}
