import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { Writable } from "node:stream";
import { startApp, type App } from "../../src/app.js";
import { resolveSettings, type SettingsInput } from "../../src/config/settings.js";
import { AuthorizationClient, type CheckRequest, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { createLogger } from "../../src/observability/logger.js";

/** Captures every log line the app writes, parsed. */
export class LogCapture extends Writable {
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.raw.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    cb();
  }
  get lines(): Record<string, unknown>[] {
    return this.raw.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  events(name: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l["event"] === name);
  }
}

export function writePolicyDir(files: Record<string, string>, dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-pol-"))): string {
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(dir, name);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
  return dir;
}

export interface TestApp {
  app: App;
  client: AuthorizationClient;
  logs: LogCapture;
  dir: string;
  check(req: CheckRequest): Promise<CheckResponse>;
  close(): Promise<void>;
}

/** A policies folder (or a placeholder beside a bundle) and the settings that go with it. */
export interface SettingsForTest {
  policies: string;
  settings: Partial<SettingsInput>;
}

/** Starts a real tollgate on a loopback port with the given policy files, and a real gRPC client. */
export async function startTestApp(files: Record<string, string> | string, settings: Partial<SettingsInput> = {}): Promise<TestApp> {
  const dir = typeof files === "string" ? files : writePolicyDir(files);
  const logs = new LogCapture();
  const app = await startApp(
    resolveSettings({
      flags: { grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", policies: dir, watch: false, logLevel: "info", adminLocalTokenDir: mkdtempSync(path.join(os.tmpdir(), "tollgate-token-")), ...settings },
    }),
    { logger: createLogger({ level: "debug", destination: logs }) },
  );
  const client = new AuthorizationClient(`127.0.0.1:${app.grpcPort}`, credentials.createInsecure());
  return {
    app,
    client,
    logs,
    dir,
    check: (req) =>
      new Promise((resolve, reject) => client.check(req, (err: ServiceError | null, res?: CheckResponse) => (err ? reject(err) : resolve(res!)))),
    async close() {
      client.close();
      await app.close();
      if (typeof files !== "string") rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A CheckRequest shaped like Envoy's, from a few fields. */
export function checkRequest(opts: {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  rawBody?: Buffer;
  principal?: string;
}): CheckRequest {
  const headers: Record<string, string> = { ":method": opts.method ?? "GET", ":path": opts.path ?? "/", ":authority": "example.com", ":scheme": "http", ...opts.headers };
  return {
    attributes: {
      source: opts.principal
        ? { address: undefined, service: "", labels: {}, principal: opts.principal, certificate: "" }
        : undefined,
      destination: undefined,
      request: {
        time: { seconds: 1_700_000_000, nanos: 0 },
        http: {
          id: "1", method: opts.method ?? "GET", headers, headerMap: undefined, path: opts.path ?? "/", host: headers[":authority"]!,
          scheme: "http", query: "", fragment: "", size: opts.body ? Buffer.byteLength(opts.body) : -1, protocol: "HTTP/1.1",
          body: opts.body ?? "", rawBody: opts.rawBody ?? Buffer.alloc(0),
        },
      },
      contextExtensions: {},
      metadataContext: undefined,
      routeMetadataContext: undefined,
      tlsSession: undefined,
    },
  };
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

export function headerMap(opts: { headers: { header?: { key: string; value: string } }[] } | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const h of opts?.headers ?? []) if (h.header) (out[h.header.key] ??= []).push(h.header.value);
  return out;
}
