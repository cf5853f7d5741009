import { cpSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { connect } from "node:net";
import { freePort, startPinned, waitFor, type Running } from "./proc.js";

const ROOT = path.join(import.meta.dirname, "..");

export interface Target extends Running {
  addr: string;
  /** tollgate's admin HTTP address (/metrics), where there is one. */
  adminAddr?: string;
}

interface Common {
  /** A CPU number, or a taskset list ("0,1") for the rows that get both cores. */
  cpu: number | string | undefined;
  workDir: string;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.once("connect", () => (sock.destroy(), resolve(true)));
    sock.once("error", () => resolve(false));
  });
}

/** A Redis of the bench's own (nothing persisted), so command counts belong to the run alone. */
export async function startRedis(o: Common): Promise<Target & { url: string; client: Redis }> {
  const port = await freePort();
  const r = startPinned({
    name: "redis",
    cpu: o.cpu,
    cmd: "redis-server",
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", o.workDir],
    logFile: path.join(o.workDir, "redis.log"),
  });
  await waitFor({ what: "the bench Redis to listen", timeoutMs: 10_000, fn: () => canConnect(port) });
  const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on("error", () => undefined);
  const addr = `127.0.0.1:${port}`;
  return {
    ...r,
    addr,
    url: `redis://${addr}`,
    client,
    async stop(graceMs?: number) {
      client.disconnect();
      await r.stop(graceMs);
    },
  };
}

export async function startCeiling(o: Common): Promise<Target> {
  const addr = `127.0.0.1:${await freePort()}`;
  const r = startPinned({ name: "ceiling", cpu: o.cpu, cmd: process.execPath, args: [path.join(ROOT, "bench", "ceiling-server.mjs"), addr], logFile: path.join(o.workDir, "ceiling.log") });
  return { ...r, addr };
}

export interface TollgateOptions extends Common {
  name: string;
  policies: string;
  redisUrl: string;
  ratelimitConfig?: string;
  /** Evaluate this folder as a shadow candidate on every request. */
  candidatePolicies?: string;
  /** Write a V8 CPU profile into this folder when the process exits. */
  cpuProfDir?: string;
  /** --workers n (node:cluster). */
  workers?: number;
  /** The checkout to run bin/tollgate.mjs from (default this one). */
  root?: string;
  env?: NodeJS.ProcessEnv;
}

export async function startTollgate(o: TollgateOptions): Promise<Target> {
  const addr = `127.0.0.1:${await freePort()}`;
  const httpAddr = `127.0.0.1:${await freePort()}`;
  const nodeFlags = o.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", o.cpuProfDir] : [];
  const args = [
    ...nodeFlags, path.join(o.root ?? ROOT, "bin", "tollgate.mjs"), "serve",
    "--grpc-addr", addr, "--http-addr", httpAddr, "--policies", o.policies, "--redis-url", o.redisUrl,
    "--log-level", "warn", "--no-watch",
    ...(o.ratelimitConfig ? ["--ratelimit-config", o.ratelimitConfig] : []),
    ...(o.candidatePolicies ? ["--candidate-policies", o.candidatePolicies] : []),
    ...(o.workers ? ["--workers", String(o.workers)] : []),
  ];
  const r = startPinned({ name: o.name, cpu: o.cpu, cmd: process.execPath, args, env: { ...process.env, ...o.env }, cwd: ROOT, logFile: path.join(o.workDir, `${o.name}.log`) });
  return { ...r, addr, adminAddr: httpAddr };
}

/** opa-envoy-plugin with the envoy_ext_authz_grpc plugin at envoy/authz/allow, loading the policy folder. */
export async function startOpaEnvoy(o: Common & { bin: string; policies: string; decisionPath: string }): Promise<Target> {
  const addr = `127.0.0.1:${await freePort()}`;
  const httpAddr = `127.0.0.1:${await freePort()}`;
  const diagAddr = `127.0.0.1:${await freePort()}`;
  const config = path.join(o.workDir, "opa-envoy.yaml");
  writeFileSync(config, [
    "plugins:",
    "  envoy_ext_authz_grpc:",
    `    addr: ${addr}`,
    `    path: ${o.decisionPath}`,
    "decision_logs:",
    "  console: false",
    "",
  ].join("\n"));
  const args = ["run", "--server", "--addr", httpAddr, "--diagnostic-addr", diagAddr, "--config-file", config, "--log-level", "error", "--disable-telemetry", o.policies];
  const r = startPinned({ name: "opa-envoy-plugin", cpu: o.cpu, cmd: o.bin, args, logFile: path.join(o.workDir, "opa-envoy-plugin.log") });
  return { ...r, addr };
}

/** envoyproxy/ratelimit with its defaults, the given YAML folder as its runtime config, and the bench Redis. */
export async function startRatelimit(o: Common & { bin: string; configDir: string; redisAddr: string; name?: string }): Promise<Target> {
  const name = o.name ?? "ratelimit";
  const port = await freePort();
  const root = path.join(o.workDir, `${name}-runtime`);
  const configDir = path.join(root, "ratelimit", "config");
  mkdirSync(configDir, { recursive: true });
  for (const f of readdirSync(o.configDir)) if (/\.ya?ml$/.test(f)) cpSync(path.join(o.configDir, f), path.join(configDir, f));
  const env = {
    ...process.env,
    USE_STATSD: "false",
    // tollgate adds RateLimit-* response headers by default; the peer does the same work only when asked.
    LIMIT_RESPONSE_HEADERS_ENABLED: "true",
    LOG_LEVEL: "warn",
    REDIS_SOCKET_TYPE: "tcp",
    REDIS_URL: o.redisAddr,
    RUNTIME_ROOT: root,
    RUNTIME_SUBDIRECTORY: "ratelimit",
    RUNTIME_WATCH_ROOT: "false",
    HOST: "127.0.0.1",
    PORT: String(await freePort()),
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: String(port),
    DEBUG_HOST: "127.0.0.1",
    DEBUG_PORT: String(await freePort()),
  };
  const r = startPinned({ name, cpu: o.cpu, cmd: o.bin, args: [], env, logFile: path.join(o.workDir, `${name}.log`) });
  return { ...r, addr: `127.0.0.1:${port}` };
}
