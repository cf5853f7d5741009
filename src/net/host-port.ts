import { TollgateError } from "../errors.js";

/**
 * Hosts an admin server may bind without a token. Only these exact names count: 127.0.0.2,
 * 0.0.0.0 or a LAN address need a token even though some of them are loopback too, because the
 * rule must be obvious from the setting alone and must not depend on how the host routes.
 */
const LOOPBACK_EXEMPT = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new TollgateError("config_error", `invalid admin address ${JSON.stringify(addr)}: expected host:port`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

export function isLoopbackExempt(host: string): boolean {
  return LOOPBACK_EXEMPT.has(host.toLowerCase());
}
