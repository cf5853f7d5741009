import http from "node:http";
import https from "node:https";

export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
}

export interface UploadRequest {
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  agent: http.Agent;
  tls?: TlsOptions | undefined;
}

export type UploadResult = { ok: true; status: number } | { ok: false; retry: boolean; status?: number; error: string };

/** 408, 429 and 5xx may succeed later; other 4xx answers mean this batch will never be accepted. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** POSTs one body. The timeout covers the whole exchange, from connect to the end of the response. */
export function post(req: UploadRequest): Promise<UploadResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: UploadResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const transport = req.url.protocol === "https:" ? https : http;
    const options: https.RequestOptions = {
      method: "POST",
      headers: { ...req.headers, "content-length": String(req.body.length) },
      agent: req.agent,
      ...(req.tls ?? {}),
    };
    const request = transport.request(req.url, options, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const finish = (): void => {
        if (status >= 200 && status < 300) done({ ok: true, status });
        else done({ ok: false, retry: retryableStatus(status), status, error: `HTTP ${status}` });
      };
      res.on("end", finish);
      res.on("close", finish);
      res.on("error", (err) => done({ ok: false, retry: true, error: err.message }));
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`timed out after ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    request.on("error", (err) => done({ ok: false, retry: true, error: err.message }));
    request.end(req.body);
  });
}
