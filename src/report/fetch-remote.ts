import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { TollgateError } from "../errors.js";
import type { ComplianceReport } from "./types.js";

const MAX_BYTES = 32 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

/** Fetches the JSON compliance report of a running tollgate's admin server. */
export function fetchRemoteReport(opts: { adminUrl: string; window: { from: string; to: string }; token?: string | undefined; ca?: Buffer | undefined }): Promise<ComplianceReport> {
  let url: URL;
  try {
    url = new URL("/v1/report", opts.adminUrl);
  } catch {
    return Promise.reject(new TollgateError("config_error", `invalid admin URL ${JSON.stringify(opts.adminUrl)}`));
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return Promise.reject(new TollgateError("config_error", "the admin URL must be http:// or https://"));
  url.search = new URLSearchParams({ format: "json", from: opts.window.from, to: opts.window.to }).toString();
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { accept: "application/json" };
  if (opts.token) headers["authorization"] = `Bearer ${opts.token}`;
  return new Promise((resolve, reject) => {
    const req = send(url, { headers, timeout: TIMEOUT_MS, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) {
          req.destroy();
          reject(new TollgateError("request_too_large", `the report from ${url.origin} is over ${MAX_BYTES} bytes`));
        } else chunks.push(c);
      });
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) {
          let detail = text.slice(0, 300);
          try {
            detail = (JSON.parse(text) as { error: { message: string } }).error.message;
          } catch {
            // not the admin server's JSON error: keep the raw start
          }
          return reject(new TollgateError("config_error", `${url.origin} answered ${res.statusCode}: ${detail}`));
        }
        try {
          const value = JSON.parse(text) as ComplianceReport;
          if (typeof value !== "object" || value === null || typeof value.window?.from !== "string" || typeof value.audit?.chain !== "string") throw new Error("not a compliance report");
          resolve(value);
        } catch (err) {
          reject(new TollgateError("request_parse_error", `${url.origin}: ${TollgateError.from(err).message}`));
        }
      });
      res.on("error", (err) => reject(TollgateError.from(err)));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on("error", (err) => reject(new TollgateError("config_error", `cannot reach ${url.origin}: ${err.message}`, { cause: err })));
    req.end();
  });
}
