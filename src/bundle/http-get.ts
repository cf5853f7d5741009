import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import { TollgateError } from "../errors.js";

export interface HttpGetOptions {
  url: string;
  headers: Record<string, string>;
  /** Whole-request deadline (connect, headers and body). */
  timeoutMs: number;
  /** Body size limit; a larger body aborts the request. */
  maxBytes: number;
  /** Extra trust anchors (PEM) for https. */
  ca?: string | Buffer;
  signal?: AbortSignal;
  maxRedirects?: number;
  /** Connection pools, one per protocol (a source keeps its own, so its sockets die with it). */
  agents?: { http?: http.Agent; https?: https.Agent };
}

export interface HttpGetResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function failure(message: string, cause?: unknown): TollgateError {
  return new TollgateError("internal_error", message, cause === undefined ? undefined : { cause });
}

function readBody(res: IncomingMessage, maxBytes: number, reject: (err: TollgateError) => void, resolve: (body: Buffer) => void): void {
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    reject(new TollgateError("policy_build_error", `bundle download: body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`));
    return;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  res.on("data", (chunk: Buffer) => {
    total += chunk.length;
    if (total > maxBytes) {
      res.destroy();
      reject(new TollgateError("policy_build_error", `bundle download: body exceeds the limit of ${maxBytes} bytes`));
      return;
    }
    chunks.push(chunk);
  });
  res.on("end", () => resolve(Buffer.concat(chunks)));
  res.on("error", (err) => reject(failure(`bundle download: ${err.message}`, err)));
}

function once(url: URL, options: HttpGetOptions, signal: AbortSignal): Promise<HttpGetResult> {
  const client = url.protocol === "https:" ? https : url.protocol === "http:" ? http : undefined;
  if (!client) return Promise.reject(new TollgateError("config_error", `bundle URL ${url.href}: only http and https are supported`));
  return new Promise((resolve, reject) => {
    const tls = url.protocol === "https:";
    const agent = tls ? options.agents?.https : options.agents?.http;
    const req = client.request(url, { method: "GET", headers: options.headers, signal, ...(agent ? { agent } : {}), ...(tls && options.ca ? { ca: options.ca } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      readBody(res, status === 200 ? options.maxBytes : 64 * 1024, reject, (body) => resolve({ status, headers: res.headers, body }));
    });
    req.on("error", (err) => reject(failure(`bundle download: ${err.message}`, err)));
    req.end();
  });
}

/**
 * One GET with a hard deadline and a body limit; follows redirects like Go's client, dropping
 * the Authorization header when the host changes.
 */
export async function httpGet(options: HttpGetOptions): Promise<HttpGetResult> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let url = new URL(options.url);
  let headers = { ...options.headers };
  for (let hop = 0; ; hop++) {
    let result: HttpGetResult;
    try {
      result = await once(url, { ...options, headers }, signal);
    } catch (err) {
      if (timeout.aborted) throw failure(`bundle download: timed out after ${options.timeoutMs} ms`, err);
      if (options.signal?.aborted) throw failure("bundle download: stopped", err);
      throw err;
    }
    const location = result.headers.location;
    if (![301, 302, 303, 307, 308].includes(result.status) || location === undefined) return result;
    if (hop >= (options.maxRedirects ?? 10)) throw failure(`bundle download: stopped after ${hop} redirects`);
    const next = new URL(location, url);
    if (next.host !== url.host) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
    url = next;
  }
}
