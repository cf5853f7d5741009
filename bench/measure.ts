import path from "node:path";
import type { Fleet, Row } from "./fleet.js";
import { runLoad, type LoadResult } from "./ghz.js";
import type { BenchOptions } from "./options.js";
import { assertAlive, readCpuSeconds, readMachineBusySeconds, readTreeCpuSeconds } from "./proc.js";
import { commandCalls, perRequest } from "./redis-stats.js";
import type { Sample } from "./report.js";

function sumCalls(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const calls of all) for (const [k, v] of Object.entries(calls)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export interface Measured {
  load: LoadResult;
  sample: Sample;
}

/**
 * One timed run of one row: counters reset, then server CPU, Redis CPU and Redis command counts
 * read before and after ghz. Redis is flushed first so every run starts from the same state.
 */
export async function measureRow(opts: { o: BenchOptions; fleet: Fleet; row: Row; ghz: string; round: number; durationSeconds?: number; total?: number; rps?: number }): Promise<Measured> {
  const { o, fleet, row } = opts;
  const redisCpu = () => row.redis.pids.reduce((sum, pid) => sum + readCpuSeconds(pid), 0);
  const commands = async () => sumCalls(await Promise.all(row.redis.clients.map((c) => commandCalls(c))));
  await Promise.all(row.redis.clients.map((c) => c.flushall()));
  assertAlive(row.target);
  const cpu0 = readTreeCpuSeconds(row.target.pid);
  const redisCpu0 = redisCpu();
  const cmd0 = await commands();
  const busy0 = readMachineBusySeconds();
  const load = await runLoad({
    ghz: opts.ghz,
    addr: row.target.addr,
    call: row.call,
    dataFile: row.dataFile,
    concurrency: o.concurrency,
    connections: o.connections,
    ...(opts.total !== undefined ? { total: opts.total } : { durationSeconds: opts.durationSeconds ?? o.durationSeconds }),
    ...(opts.rps !== undefined ? { rps: opts.rps } : {}),
    cpu: o.loadCpu,
    outFile: path.join(fleet.workDir, `ghz-${row.id}-${opts.round}.json`),
  });
  const busy1 = readMachineBusySeconds();
  const cpu1 = readTreeCpuSeconds(row.target.pid);
  const redisCpu1 = redisCpu();
  const cmd1 = await commands();
  assertAlive(row.target);
  const n = Math.max(1, load.count);
  const errors = Object.values(load.errors).reduce((a, b) => a + b, 0);
  // The calls a timed run cuts off show up as Unavailable too; they are not the server's doing.
  const nonOk = Object.entries(load.statusCodes).reduce((a, [code, c]) => (code === "OK" ? a : a + c), 0) - load.cutAtEnd;
  return {
    load,
    sample: {
      row: row.id,
      round: opts.round,
      count: load.count,
      rps: load.rps,
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      cpuPer1k: ((cpu1 - cpu0) / n) * 1000,
      redisCpuPer1k: ((redisCpu1 - redisCpu0) / n) * 1000,
      redisCommands: perRequest(cmd0, cmd1, load.count),
      errors,
      nonOk,
      otherCores: (busy1 - busy0 - (cpu1 - cpu0) - (redisCpu1 - redisCpu0)) / load.wallSeconds,
    },
  };
}
