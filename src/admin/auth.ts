import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { TollgateError } from "../errors.js";
import { isLoopbackExempt } from "../net/host-port.js";

export const MIN_TOKEN_LENGTH = 16;

/** Throws a config_error unless the token setting suits the bind address. */
export function checkTokenPolicy(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new TollgateError("config_error", `the admin token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  if (token === undefined && !isLoopbackExempt(host)) {
    throw new TollgateError("config_error", `the admin server on ${host} needs a bearer token (only 127.0.0.1, ::1 and localhost may run without one)`);
  }
}

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/** Compares the request's bearer token with the configured one in constant time (over fixed-length digests). */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  if (typeof header !== "string") return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}

const OPERATOR = /^[\w.@:+\- ]{1,128}$/;

/** The operator a state-changing call names (x-tollgate-operator or body.operator); "admin-token" when none. */
export function operatorOf(req: IncomingMessage, body: Record<string, unknown>): string {
  const raw = body["operator"] ?? req.headers["x-tollgate-operator"];
  if (raw === undefined) return "admin-token";
  if (typeof raw !== "string" || !OPERATOR.test(raw)) {
    throw new TollgateError("request_parse_error", "operator must be 1-128 characters of letters, digits, space and . @ : + - _");
  }
  return raw.trim() || "admin-token";
}
