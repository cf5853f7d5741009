import os from "node:os";
import { startFleet } from "./fleet.js";
import { measureRow } from "./measure.js";
import type { BenchOptions } from "./options.js";
import { readRssBytes, sleep } from "./proc.js";
import { writeSection } from "./report.js";
import type { ToolName } from "./tools.js";

const MiB = 2 ** 20;
const CHUNKS = 10;
const IDLE_MS = 10_000;

interface Memory {
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  wasmMiB: number;
}

/** One gauge from a Prometheus text exposition; NaN when absent. */
export function gauge(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text);
  return m?.[1] ? Number(m[1]) : Number.NaN;
}

async function memory(pid: number, adminAddr: string | undefined): Promise<Memory> {
  const rssMiB = readRssBytes(pid) / MiB;
  let text = "";
  if (adminAddr) {
    try {
      text = await (await fetch(`http://${adminAddr}/metrics`)).text();
    } catch {
      // the admin server is optional; RSS alone still answers the goal
    }
  }
  return {
    rssMiB,
    heapUsedMiB: gauge(text, "tollgate_nodejs_heap_size_used_bytes") / MiB,
    externalMiB: gauge(text, "tollgate_nodejs_external_memory_bytes") / MiB,
    wasmMiB: gauge(text, "tollgate_wasm_memory_bytes") / MiB,
  };
}

const mib = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "–");

/**
 * `--soak`: soakCount Checks against tollgate (shipped policy, Redis limits) in ten chunks. After
 * each chunk: RSS, and from tollgate's /metrics the V8 heap in use, external memory and the
 * policy's Wasm memory (which never shrinks, so growth there would be a leak in the policy engine).
 */
export async function runSoak(o: BenchOptions, tools: Record<ToolName, string>, log: (s: string) => void): Promise<void> {
  const fleet = await startFleet({ ...o, rows: ["tollgate-check"], tools, tmpRoot: os.tmpdir(), log });
  let failed = true;
  try {
    const row = fleet.rows[0]!;
    const pid = row.target.pid;
    const admin = row.target.adminAddr;
    const warm = Math.min(50_000, Math.ceil(o.soakCount / 10));
    log(`soak warm-up: ${warm} Checks`);
    await measureRow({ o, fleet, row, ghz: tools.ghz, round: 0, total: warm });
    await sleep(2000);
    const base = await memory(pid, admin);
    const points: (Memory & { done: number; rps: number; errors: number })[] = [];
    let done = 0;
    let errors = 0;
    for (let i = 1; i <= CHUNKS; i++) {
      const n = Math.floor(o.soakCount / CHUNKS) + (i === CHUNKS ? o.soakCount % CHUNKS : 0);
      const { sample } = await measureRow({ o, fleet, row, ghz: tools.ghz, round: i, total: n });
      done += sample.count;
      errors += sample.errors + sample.nonOk;
      const m = await memory(pid, admin);
      points.push({ ...m, done, rps: sample.rps, errors: sample.errors + sample.nonOk });
      log(`soak ${done}/${o.soakCount}: RSS ${mib(m.rssMiB)} MiB, heap used ${mib(m.heapUsedMiB)} MiB, wasm ${mib(m.wasmMiB)} MiB, ${sample.rps.toFixed(0)} rps, errors ${sample.errors + sample.nonOk}`);
    }
    await sleep(2000);
    const end = await memory(pid, admin);
    await sleep(IDLE_MS);
    const idle = await memory(pid, admin);
    const growth = (end.rssMiB - base.rssMiB) / base.rssMiB;
    const idleGrowth = (idle.rssMiB - base.rssMiB) / base.rssMiB;
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    const body = [
      `Soak ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC: ${done} Checks (shipped policy, Redis limits) after a ${warm}-Check warm-up, ${o.concurrency} concurrent calls, as fast as tollgate answers.`,
      "",
      `RSS after warm-up ${mib(base.rssMiB)} MiB; 2 s after the soak ${mib(end.rssMiB)} MiB (${pct(growth)}); after ${IDLE_MS / 1000} s more idle ${mib(idle.rssMiB)} MiB (${pct(idleGrowth)}). Goal < 10 %: ${growth < 0.1 ? "met" : "**not met**"}. V8 heap in use ${mib(base.heapUsedMiB)} → ${mib(idle.heapUsedMiB)} MiB; policy Wasm memory ${mib(base.wasmMiB)} → ${mib(idle.wasmMiB)} MiB. Errors: ${errors}.`,
      "",
      "| Checks done | RSS MiB | V8 heap used MiB | external MiB | policy Wasm MiB | rps in chunk | errors |",
      "|---:|---:|---:|---:|---:|---:|---:|",
      `| 0 (after warm-up) | ${mib(base.rssMiB)} | ${mib(base.heapUsedMiB)} | ${mib(base.externalMiB)} | ${mib(base.wasmMiB)} | – | – |`,
      ...points.map((p) => `| ${p.done} | ${mib(p.rssMiB)} | ${mib(p.heapUsedMiB)} | ${mib(p.externalMiB)} | ${mib(p.wasmMiB)} | ${p.rps.toFixed(0)} | ${p.errors} |`),
    ].join("\n");
    process.stdout.write(`\n${body}\n`);
    if (o.write) writeSection(o.doc, "soak", body);
    failed = false;
  } finally {
    await fleet.stop(failed);
  }
}
