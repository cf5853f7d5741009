import { existsSync, readFileSync } from "node:fs";
import { localTokenPath } from "../admin/local-token.js";
import { DEFAULT_LOCAL_TOKEN_DIR } from "../config/settings.js";
import { TollgateError } from "../errors.js";
import { isLoopbackExempt, splitHostPort } from "../net/host-port.js";

/**
 * The admin API a CLI command talks to when none is given: the one `tollgate serve` on this
 * machine listens on (TOLLGATE_HTTP_ADDR, else its default 127.0.0.1:8181; a wildcard bind is
 * reached through loopback).
 */
export function defaultAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  const { host, port } = splitHostPort(env["TOLLGATE_HTTP_ADDR"] || "127.0.0.1:8181");
  const reach = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const scheme = env["TOLLGATE_HTTP_TLS_CERT_FILE"] ? "https" : "http";
  return `${scheme}://${reach.includes(":") ? `[${reach}]` : reach}:${port}`;
}

export function defaultLocalTokenDir(env: NodeJS.ProcessEnv = process.env): string {
  return env["TOLLGATE_ADMIN_LOCAL_TOKEN_DIR"] ?? DEFAULT_LOCAL_TOKEN_DIR;
}

/** The token a loopback server without a configured one wrote for its port, if there is one. */
function localToken(adminUrl: string, localTokenDir: string): { file: string; token?: string } {
  const url = new URL(adminUrl);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const file = localTokenPath(localTokenDir, port);
  return isLoopbackExempt(host) && existsSync(file) ? { file, token: readFileSync(file, "utf8").trim() } : { file };
}

/**
 * --token-file, else TOLLGATE_ADMIN_TOKEN, else the loopback server's generated token; the token
 * never comes from argv, where `ps` shows it. Undefined when there is none (reads on a loopback
 * server need none).
 */
export function adminToken(opts: { adminUrl: string; tokenFile?: string | undefined; localTokenDir: string }, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (opts.tokenFile) {
    try {
      return readFileSync(opts.tokenFile, "utf8").trim();
    } catch (err) {
      throw new TollgateError("config_error", `token file ${opts.tokenFile}: ${TollgateError.from(err).message}`, { cause: err });
    }
  }
  return env["TOLLGATE_ADMIN_TOKEN"] || localToken(opts.adminUrl, opts.localTokenDir).token;
}

/** Like adminToken, for calls that cannot go without one (rollback, promote). */
export function requiredAdminToken(opts: { adminUrl: string; tokenFile?: string | undefined; localTokenDir: string }): string {
  const token = adminToken(opts);
  if (token) return token;
  throw new TollgateError(
    "config_error",
    `rollback and promote need the admin token: set TOLLGATE_ADMIN_TOKEN or --token-file (a tollgate serving its admin API on loopback without a token writes one to ${localToken(opts.adminUrl, opts.localTokenDir).file})`,
  );
}
