import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { OPA_BUNDLE_CONTENT_TYPE } from "../../../src/bundle/http-source.js";

export interface RecordedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  status?: number;
  /** How long the server held the request before answering. */
  heldMs?: number;
}

export interface BundleServerOptions {
  /** Answer with OPA's bundle content type and honour `Prefer: wait=N`. */
  longPolling?: boolean;
  token?: string;
  tls?: { key: string; cert: string };
  /** Send bodies without Content-Length. */
  chunked?: boolean;
  /** Claim long-polling support (content type) but answer 304 at once instead of holding. */
  ignoreWait?: boolean;
}

/**
 * A bundle server speaking OPA's bundle service protocol: ETag / If-None-Match → 304, and
 * (when longPolling) holding a request with a current ETag until a new bundle or the wait runs out.
 */
export class BundleServer {
  readonly requests: RecordedRequest[] = [];
  failStatus: number | undefined;
  /** Accept requests but never answer. */
  hang = false;
  token: string | undefined;
  private bundle: { bytes: Buffer; etag: string } | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly server: http.Server;
  private port = 0;

  private constructor(private readonly options: BundleServerOptions) {
    this.token = options.token;
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    this.server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  }

  static async start(options: BundleServerOptions = {}): Promise<BundleServer> {
    const s = new BundleServer(options);
    await s.up();
    return s;
  }

  get url(): string {
    return `${this.options.tls ? "https" : "http"}://127.0.0.1:${this.port}/bundles/app.tar.gz`;
  }

  /** Serves this bundle from now on and answers every held long poll with it. */
  publish(bytes: Buffer, etag: string): void {
    this.bundle = { bytes, etag };
    for (const wake of this.waiters) wake();
  }

  async up(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, "127.0.0.1", () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** A real outage: the port refuses connections until up(). */
  async down(): Promise<void> {
    for (const wake of this.waiters) wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const record: RecordedRequest = { path: req.url ?? "", headers: req.headers };
    this.requests.push(record);
    const started = Date.now();
    const answer = (status: number, headers: Record<string, string> = {}, body?: Buffer) => {
      record.status = status;
      record.heldMs = Date.now() - started;
      if (body && this.options.chunked) {
        res.writeHead(status, headers);
        for (let i = 0; i < body.length; i += 1024) res.write(body.subarray(i, i + 1024));
        res.end();
      } else res.writeHead(status, body ? { ...headers, "content-length": String(body.length) } : headers).end(body);
    };
    if (req.url === "/old") return answer(302, { location: "/bundles/app.tar.gz" });
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return answer(401);
    if (this.failStatus !== undefined) return answer(this.failStatus);
    if (this.hang) return;
    const send = () => {
      const b = this.bundle as { bytes: Buffer; etag: string };
      answer(200, { etag: b.etag, "content-type": this.options.longPolling ? OPA_BUNDLE_CONTENT_TYPE : "application/gzip" }, b.bytes);
    };
    if (!this.bundle) return answer(404);
    if (req.headers["if-none-match"] !== this.bundle.etag) return send();
    const wait = /(?:^|;)\s*wait=(\d+)/.exec(String(req.headers.prefer ?? ""));
    if (!this.options.longPolling || !wait || this.options.ignoreWait) return answer(304, { etag: this.bundle.etag });
    const current = this.bundle.etag;
    const done = () => {
      clearTimeout(timer);
      this.waiters.delete(done);
      if (res.writableEnded || res.destroyed) return;
      if (this.bundle && this.bundle.etag !== current) send();
      else answer(304, { etag: current });
    };
    const timer = setTimeout(done, Number(wait[1]) * 1000);
    this.waiters.add(done);
  }
}
