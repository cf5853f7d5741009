import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { TollgateError } from "../errors.js";

/**
 * Hosts an admin server may bind without a token. Only these exact names count: 127.0.0.2,
 * 0.0.0.0 or a LAN address need a token even though some of them are loopback too, because the
 * rule must be obvious from the setting alone and must not depend on how the host routes.
 */
const LOOPBACK_EXEMPT = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

export const MIN_TOKEN_LENGTH = 16;

export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new TollgateError("config_error", `invalid admin address ${JSON.stringify(addr)}: expected host:port`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

export function isLoopbackExempt(host: string): boolean {
  return LOOPBACK_EXEMPT.has(host.toLowerCase());
}

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
