import http from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { waitFor as sharedWaitFor } from "../support/wait.js";

export interface Received {
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The gunzipped body as text. */
  text: string;
  events: Record<string, unknown>[];
}

/** What the server does with the next request: answer with a status, or hang (never answer). */
export type Reply = number | "hang";

/**
 * A real decision-log service on a loopback port. It gunzips and parses every upload and answers
 * from `replies` in order, then with `fallback`.
 */
export class LogServer {
  readonly received: Received[] = [];
  replies: Reply[] = [];
  fallback: Reply = 204;
  private readonly server: http.Server;
  private readonly hanging: http.ServerResponse[] = [];

  private constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks);
        const text = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
        this.received.push({ at: Date.now(), method: req.method ?? "", path: req.url ?? "", headers: req.headers, text, events: JSON.parse(text) as Record<string, unknown>[] });
        const reply = this.replies.shift() ?? this.fallback;
        if (reply === "hang") this.hanging.push(res);
        else res.writeHead(reply).end();
      });
    });
  }

  static async start(): Promise<LogServer> {
    const s = new LogServer();
    await new Promise<void>((resolve) => s.server.listen(0, "127.0.0.1", resolve));
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get ids(): string[][] {
    return this.received.map((r) => r.events.map((e) => e["decision_id"] as string));
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A loopback port with nothing listening on it. */
export async function deadPort(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Waits 5 s at most, polling every 5 ms (the sink's timings are short). */
export const waitFor = (cond: () => boolean, timeoutMs = 5000): Promise<void> => sharedWaitFor(cond, timeoutMs, "condition", 5);
