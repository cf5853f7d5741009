import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import type { RateLimitDescriptor } from "../../src/gen/envoy/extensions/common/ratelimit/v3/ratelimit.js";
import { AuthorizationClient, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { RateLimitServiceClient, type RateLimitRequest, type RateLimitResponse } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { checkRequest, headerMap } from "../support/app.js";
import { assertBuilt, BIN } from "../support/cli.js";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh temp folder holding the given files (names may contain sub-folders). */
export function tempDir(prefix: string, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `tollgate-${prefix}-`));
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(dir, name);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
  return dir;
}

/** A descriptor from [key, value] pairs. */
export function descriptor(...entries: [key: string, value: string][]): RateLimitDescriptor {
  return { entries: entries.map(([key, value]) => ({ key, value })), limit: undefined };
}

export function rlsRequest(domain: string, descriptors: RateLimitDescriptor[], hitsAddend = 0): RateLimitRequest {
  return { domain, descriptors, hitsAddend };
}

/** Real gRPC clients (RLS and ext_authz) on one tollgate port, with promise-returning calls. */
export class Clients {
  readonly rls: RateLimitServiceClient;
  readonly authz: AuthorizationClient;

  constructor(port: number) {
    this.rls = new RateLimitServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    this.authz = new AuthorizationClient(`127.0.0.1:${port}`, credentials.createInsecure());
  }

  shouldRateLimit(req: RateLimitRequest, deadlineMs = 10_000): Promise<RateLimitResponse> {
    return new Promise((resolve, reject) => {
      this.rls.shouldRateLimit(req, new Metadata(), { deadline: Date.now() + deadlineMs }, (err: ServiceError | null, res: RateLimitResponse) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  check(opts: Parameters<typeof checkRequest>[0], deadlineMs = 10_000): Promise<CheckResponse> {
    return new Promise((resolve, reject) => {
      this.authz.check(checkRequest(opts), new Metadata(), { deadline: Date.now() + deadlineMs }, (err: ServiceError | null, res?: CheckResponse) =>
        err || !res ? reject(err ?? new Error("empty Check response")) : resolve(res),
      );
    });
  }

  close(): void {
    this.rls.close();
    this.authz.close();
  }
}

/** What a Check answered, flattened for assertions. */
export interface CheckSummary {
  /** 200 when allowed, else the denied HTTP status. */
  status: number;
  headers: Record<string, string[]>;
  body: string;
  /** dynamic_metadata.limits: per limit name, its usage (absent when no counter answered). */
  limits: Record<string, { limit: number; remaining: number; reset_seconds: number; over: boolean }> | undefined;
}

export function summarize(res: CheckResponse): CheckSummary {
  const metadata = res.dynamicMetadata as Record<string, unknown> | undefined;
  const limits = metadata?.["limits"] as CheckSummary["limits"];
  if (res.okResponse) return { status: 200, headers: headerMap({ headers: res.okResponse.responseHeadersToAdd }), body: "", limits };
  return { status: res.deniedResponse?.status?.code ?? -1, headers: headerMap(res.deniedResponse), body: res.deniedResponse?.body ?? "", limits };
}

/**
 * Waits, when needed, so that `needMs` fit before the current epoch-aligned window of
 * `windowSeconds` ends: fixed windows restart on those boundaries, which would split a count.
 */
export async function roomInWindow(windowSeconds: number, needMs: number): Promise<void> {
  const windowMs = windowSeconds * 1000;
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await sleep(left + 20);
}

/** Sleeps until just after the next epoch-aligned boundary of a `windowSeconds` window. */
export async function nextWindow(windowSeconds: number): Promise<void> {
  const windowMs = windowSeconds * 1000;
  await sleep(windowMs - (Date.now() % windowMs) + 20);
}

export interface Tollgate {
  proc: ChildProcess;
  port: number;
  /** The admin server's port, when it runs. */
  adminPort: number | undefined;
  /** Log lines at warn level and above (decision lines are dropped: a burst writes thousands). */
  warnings: string[];
  exited: Promise<number | null>;
}

/**
 * Starts `node bin/tollgate.mjs serve` on free loopback ports and resolves with its gRPC port once
 * it logs that it listens. Unlike test/support/cli.ts's serve(), it reads the output line by line
 * and keeps only warnings, so a long burst costs the test process nothing.
 */
export function startTollgate(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Tollgate> {
  assertBuilt();
  const proc = spawn(process.execPath, [BIN, "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", ...args], {
    env: { ...process.env, TOLLGATE_SHUTDOWN_GRACE_MS: "1000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const warnings: string[] = [];
  const startup: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let port: number | undefined;
    const timer = setTimeout(() => reject(new Error(`tollgate did not start:\n${startup.join("\n")}`)), 60_000);
    const onLine = (line: string): void => {
      const level = /^\{"level":(\d+)/.exec(line)?.[1];
      if (level === undefined || Number(level) >= 40) warnings.push(line);
      if (port !== undefined) return;
      startup.push(line);
      const m = /"event":"listening".*"grpc_port":(\d+)/.exec(line);
      if (m) {
        port = Number(m[1]);
        clearTimeout(timer);
        const admin = /"admin_port":(\d+)/.exec(line)?.[1];
        resolve({ proc, port, adminPort: admin === undefined ? undefined : Number(admin), warnings, exited });
      }
    };
    for (const stream of [proc.stdout!, proc.stderr!]) {
      let rest = "";
      stream.on("data", (chunk: Buffer) => {
        const lines = (rest + chunk.toString("utf8")).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) if (line !== "") onLine(line);
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      if (port === undefined) reject(new Error(`tollgate exited with ${code}:\n${startup.join("\n")}`));
    });
  });
}

/** Started tollgate processes; stopAll() ends them with SIGTERM (SIGKILL after a grace period). */
export class Processes {
  readonly all: Tollgate[] = [];

  async start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Tollgate> {
    const started = await startTollgate(args, env);
    this.all.push(started);
    return started;
  }

  /** Exit codes of processes that are no longer running (an empty list means none died). */
  exited(): (number | null)[] {
    return this.all.filter((s) => s.proc.exitCode !== null || s.proc.signalCode !== null).map((s) => s.proc.exitCode);
  }

  /** Every warning (or worse) any process logged, parsed. */
  warnings(): Record<string, unknown>[] {
    return this.all.flatMap((s) => s.warnings.map((l) => (l.startsWith("{") ? (JSON.parse(l) as Record<string, unknown>) : { raw: l })));
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.all.splice(0).map(async (s) => {
        if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
        s.proc.kill("SIGTERM");
        const timer = setTimeout(() => s.proc.kill("SIGKILL"), 5000);
        await s.exited;
        clearTimeout(timer);
      }),
    );
  }
}
