import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Redis } from "ioredis";
import { startRedisCluster } from "../test/support/redis-server.js";
import path from "node:path";
import { TollgateError } from "../src/errors.js";
import { CHECK_CALL, RLS_CALL } from "./grpc-call.js";
import type { BenchOptions, RowId } from "./options.js";
import { loadCheckPayloads, loadRlsPayloads, preparePolicyDir, writeGhzData, type CheckPayload } from "./payloads.js";
import { assertAlive } from "./proc.js";
import { startCeiling, startOpaEnvoy, startRatelimit, startRedis, startTollgate, type Target, type TollgateOptions } from "./targets.js";
import type { ToolName } from "./tools.js";
import { checkStatuses, mismatches, rlsShapes, waitReady } from "./verify.js";

/** Placeholder provider credentials: the shipped pack injects them upstream, so tollgate resolves them per request. */
export const BENCH_SECRETS = { OPENAI_API_KEY: "sk-bench-openai", ANTHROPIC_API_KEY: "sk-ant-bench", MISTRAL_API_KEY: "bench-mistral", GEMINI_API_KEY: "AIzaBench", AZURE_OPENAI_API_KEY: "bench-azure" };

/** The Redis a row counts on: the bench Redis, or the nodes of the bench's cluster. */
export interface RedisSide {
  pids: number[];
  clients: Redis[];
}

export interface Row {
  id: RowId;
  label: string;
  target: Target;
  call: string;
  dataFile: string;
  redis: RedisSide;
}

export interface Fleet {
  workDir: string;
  redis: Awaited<ReturnType<typeof startRedis>>;
  rows: Row[];
  /** Facts found while checking correctness, for the report. */
  notes: string[];
  /** Stops every process; removes the work folder (logs, patched policies) unless keepLogs. */
  stop(keepLogs?: boolean): Promise<void>;
}

export const ROW_LABELS: Record<RowId, string> = {
  ceiling: "ceiling: no-op Check on tollgate's gRPC server (same codec)",
  "tollgate-check": "tollgate Check, shipped policy + Redis limits",
  "tollgate-check-shadow": "tollgate Check, shipped policy + Redis limits + the same policy as shadow candidate",
  "tollgate-check-starter": "tollgate Check, compare policy",
  "opa-check": "opa-envoy-plugin Check, compare policy",
  "tollgate-rls": "tollgate ShouldRateLimit, 3 descriptors",
  "ratelimit-rls": "envoyproxy/ratelimit, 3 descriptors",
  "tollgate-rls-workers": "tollgate ShouldRateLimit, --workers 2 on both CPUs",
  "ratelimit-rls-2cpu": "envoyproxy/ratelimit on both CPUs",
  "tollgate-rls-cluster": "tollgate ShouldRateLimit on a 3-master Redis Cluster",
};

function describeMismatch(who: string, list: { name: string; expected: number; actual: number }[]): string {
  return `${who} answered ${list.map((m) => `"${m.name}" ${m.actual} (expected ${m.expected})`).join("; ")}`;
}

/** Runs opa-envoy-plugin on the shipped policy once, untimed, to record whether it can stand in for tollgate there. */
async function opaOnShipped(server: { cpu: number | undefined; workDir: string }, o: BenchOptions & { tools: Record<ToolName, string> }, policies: string, payloads: CheckPayload[]): Promise<string> {
  const opa = await startOpaEnvoy({ ...server, bin: o.tools["opa-envoy-plugin"], policies, decisionPath: o.decisionPath });
  try {
    await waitReady({ grpcurl: o.tools.grpcurl, addr: opa.addr, call: CHECK_CALL, body: payloads[0]!.request, what: "opa-envoy-plugin on the shipped policy" });
    const verdicts = await checkStatuses({ grpcurl: o.tools.grpcurl, addr: opa.addr, payloads });
    const bad = mismatches(verdicts);
    if (bad.length === 0) return `opa-envoy-plugin also answered all ${payloads.length} shipped-policy payloads as expected.`;
    return `opa-envoy-plugin given the shipped policy and data answered ${payloads.length - bad.length} of ${payloads.length} payloads as tollgate must: ${describeMismatch("it", bad).slice(3)}. So the opa-envoy-plugin pair uses the compare policy instead.`;
  } finally {
    await opa.stop();
  }
}

/**
 * Starts the bench Redis and every server the rows need (pinned to the server CPU), waits until
 * each answers, and checks that each answers every payload as expected, and that the RLS peers
 * agree, before anything is timed. Throws on any disagreement.
 */
export async function startFleet(o: BenchOptions & { tools: Record<ToolName, string>; tmpRoot: string; log: (s: string) => void; cpuProfDir?: string }): Promise<Fleet> {
  const tollgate = (t: TollgateOptions) => startTollgate({ ...t, root: o.tollgateRoot });
  const workDir = mkdtempSync(path.join(o.tmpRoot, "tollgate-bench-"));
  const want = new Set(o.rows);
  const started: Target[] = [];
  const redis = await startRedis({ cpu: o.loadCpu, workDir });
  const cluster = want.has("tollgate-rls-cluster") ? await startRedisCluster() : undefined;
  // Pinned like the bench Redis, to the load CPU.
  if (cluster && o.loadCpu !== undefined) for (const pid of cluster.pids) spawnSync("taskset", ["-a", "-p", "-c", String(o.loadCpu), String(pid)], { stdio: "ignore" });
  const clusterClients = cluster ? cluster.ports.map((port) => new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 })) : [];
  const stop = async (keepLogs = false) => {
    for (const t of started.reverse()) await t.stop();
    await redis.stop();
    for (const c of clusterClients) c.disconnect();
    await cluster?.stop();
    if (!keepLogs) rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const llm = loadCheckPayloads(o.checkPayloads);
    const compare = loadCheckPayloads(o.comparePayloads);
    const rls = loadRlsPayloads(o.rlsPayloads);
    const data = {
      llm: writeGhzData({ payloads: llm.payloads, file: path.join(workDir, "check-llm.data.json") }),
      compare: writeGhzData({ payloads: compare.payloads, file: path.join(workDir, "check-compare.data.json") }),
      rls: writeGhzData({ payloads: rls, file: path.join(workDir, "rls.data.json") }),
    };
    const server = { cpu: o.serverCpu, workDir };
    const rows: Row[] = [];
    const notes: string[] = [];
    const single: RedisSide = { pids: [redis.pid], clients: [redis.client] };
    const add = (id: RowId, target: Target, call: string, dataFile: string, side: RedisSide = single) => rows.push({ id, label: ROW_LABELS[id], target, call, dataFile, redis: side });
    // The rows that get both cores: the server shares CPU 0 with ghz and Redis, so read them per core, not per machine.
    const bothCpus = o.serverCpu === undefined || o.loadCpu === undefined ? undefined : `${o.loadCpu},${o.serverCpu}`;
    const track = <T extends Target>(t: T): T => (started.push(t), t);

    const needMain = want.has("tollgate-check") || want.has("tollgate-rls");
    const policies = preparePolicyDir({ policies: o.policies, ...(llm.dataPatch ? { dataPatch: llm.dataPatch } : {}), tmpDir: workDir });
    const comparePolicies = preparePolicyDir({ policies: o.comparePolicies, ...(compare.dataPatch ? { dataPatch: compare.dataPatch } : {}), tmpDir: workDir });
    if (want.has("ceiling")) add("ceiling", track(await startCeiling(server)), CHECK_CALL, data.compare);
    if (needMain) {
      const t = track(await tollgate({ ...server, name: "tollgate", policies, redisUrl: redis.url, ratelimitConfig: o.ratelimitConfig, env: BENCH_SECRETS, ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}) }));
      if (want.has("tollgate-check")) add("tollgate-check", t, CHECK_CALL, data.llm);
      if (want.has("tollgate-rls")) add("tollgate-rls", t, RLS_CALL, data.rls);
    }
    if (want.has("tollgate-check-shadow")) {
      const shadow = { ...server, name: "tollgate-shadow", policies, candidatePolicies: policies, redisUrl: redis.url, env: BENCH_SECRETS };
      add("tollgate-check-shadow", track(await tollgate(shadow)), CHECK_CALL, data.llm);
    }
    if (want.has("tollgate-check-starter")) {
      add("tollgate-check-starter", track(await tollgate({ ...server, name: "tollgate-compare", policies: comparePolicies, redisUrl: redis.url, env: BENCH_SECRETS })), CHECK_CALL, data.compare);
    }
    if (want.has("opa-check")) {
      add("opa-check", track(await startOpaEnvoy({ ...server, bin: o.tools["opa-envoy-plugin"], policies: comparePolicies, decisionPath: o.decisionPath })), CHECK_CALL, data.compare);
    }
    if (want.has("ratelimit-rls")) {
      add("ratelimit-rls", track(await startRatelimit({ ...server, bin: o.tools.ratelimit, configDir: o.ratelimitConfig, redisAddr: redis.addr })), RLS_CALL, data.rls);
    }
    if (want.has("tollgate-rls-workers")) {
      const t = await tollgate({ cpu: bothCpus, workDir, name: "tollgate-workers", policies, redisUrl: redis.url, ratelimitConfig: o.ratelimitConfig, env: BENCH_SECRETS, workers: 2 });
      add("tollgate-rls-workers", track(t), RLS_CALL, data.rls);
    }
    if (want.has("ratelimit-rls-2cpu")) {
      add("ratelimit-rls-2cpu", track(await startRatelimit({ cpu: bothCpus, workDir, name: "ratelimit-2cpu", bin: o.tools.ratelimit, configDir: o.ratelimitConfig, redisAddr: redis.addr })), RLS_CALL, data.rls);
    }
    if (cluster) {
      const t = await tollgate({ ...server, name: "tollgate-cluster", policies, redisUrl: cluster.url, ratelimitConfig: o.ratelimitConfig, env: BENCH_SECRETS });
      add("tollgate-rls-cluster", track(t), RLS_CALL, data.rls, { pids: cluster.pids, clients: clusterClients });
    }

    const first = (row: Row) => (row.call === RLS_CALL ? rls[0]!.request : (row.dataFile === data.llm ? llm : compare).payloads[0]!.request);
    for (const row of rows) {
      assertAlive(row.target);
      await waitReady({ grpcurl: o.tools.grpcurl, addr: row.target.addr, call: row.call, body: first(row), what: `${row.target.name} to answer ${row.call}` }).catch((err: unknown) => {
        assertAlive(row.target);
        throw err;
      });
    }

    // Correctness before speed: each Check server answers every payload with its expected status.
    for (const row of rows.filter((r) => r.call === CHECK_CALL && r.id !== "ceiling")) {
      const payloads: CheckPayload[] = row.dataFile === data.llm ? llm.payloads : compare.payloads;
      const bad = mismatches(await checkStatuses({ grpcurl: o.tools.grpcurl, addr: row.target.addr, payloads }));
      if (bad.length > 0) throw new TollgateError("internal_error", describeMismatch(row.id, bad));
      o.log(`${row.id}: all ${payloads.length} payloads answered as expected`);
    }
    if (want.has("opa-check") && want.has("tollgate-check")) notes.push(await opaOnShipped({ ...server, workDir: mkdtempSync(path.join(workDir, "opa-shipped-")) }, o, policies, llm.payloads));
    // The RLS peers must agree on fresh counters, call for call.
    const rlsRows = rows.filter((r) => r.id === "tollgate-rls" || r.id === "ratelimit-rls");
    if (rlsRows.length === 2) {
      const shapes: { name: string; shape: unknown }[][] = [];
      for (const row of rlsRows) {
        await redis.client.flushall();
        shapes.push(await rlsShapes({ grpcurl: o.tools.grpcurl, addr: row.target.addr, payloads: rls }));
      }
      const [a, b] = shapes as [{ name: string; shape: unknown }[], { name: string; shape: unknown }[]];
      const differ = a.filter((x, i) => JSON.stringify(x.shape) !== JSON.stringify(b[i]?.shape));
      if (differ.length > 0) throw new TollgateError("internal_error", `tollgate and envoyproxy/ratelimit disagree on ${differ.map((d) => `"${d.name}"`).join(", ")}: ${JSON.stringify(differ[0]?.shape)} vs ${JSON.stringify(b[a.indexOf(differ[0]!)]?.shape)}`);
      o.log(`RLS: tollgate and envoyproxy/ratelimit agree on all ${rls.length} payloads (codes, limits, remaining)`);
      notes.push(`tollgate and envoyproxy/ratelimit gave identical statuses (codes, limits, remaining) for all ${rls.length} RLS payloads on fresh counters.`);
    }
    await redis.client.flushall();
    return { workDir, redis, rows, notes, stop };
  } catch (err) {
    await stop(true);
    throw err;
  }
}
