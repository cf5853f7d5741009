/**
 * One streamed LLM response through the ext_proc server, as Envoy's filter sends it (response
 * headers, then 200 body chunks, each answered in order): chunks per second and server CPU per
 * 1,000 chunks, tollgate beside a no-op ext_proc server with the same codec (the floor of gRPC
 * streaming itself) and beside the usage reader alone, in one run. See BENCHMARKS.md.
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { ExternalProcessorClient, type ProcessingRequest, type ProcessingResponse } from "../src/gen/envoy/service/ext_proc/v3/external_processor.js";
import { TollgateError } from "../src/errors.js";
import { encodeReservation, RESERVATION_METADATA_KEY } from "../src/limits/reservation.js";
import { createUsageReader } from "../src/llm/usage/index.js";
import { CHUNKS, STREAMS } from "./llm-streams.js";
import { assertAlive, freePort, readMachineBusySeconds, readTreeCpuSeconds, startPinned, waitFor, type Running } from "./proc.js";
import { median } from "./report.js";

const ROOT = path.join(import.meta.dirname, "..");
const AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz";
const STREAM = STREAMS[0]!; // OpenAI chat completions, SSE, usage in the last chunk
/** What the stream reports: 50 prompt + CHUNKS completion tokens. */
const ACTUAL_TOKENS = 50 + CHUNKS;

export interface ExtProcBenchOptions {
  durationSeconds: number;
  warmupSeconds: number;
  rounds: number;
  /** Streams in flight at once. */
  concurrency: number;
  /** HTTP/2 connections they share (Envoy opens one per worker thread). */
  connections: number;
  serverCpu: number | undefined;
  loadCpu: number | undefined;
  log: (line: string) => void;
}

type RowId = "extproc-tollgate" | "extproc-noop";

export const EXTPROC_ROW_LABELS: Record<RowId | "usage-reader", string> = {
  "extproc-tollgate": "tollgate ext_proc: reservation read, budget peek, usage counted per chunk, reconcile at the end",
  "extproc-noop": "no-op ext_proc server (same grpc-js codec and options, answers every message unchanged)",
  "usage-reader": "the usage reader alone, in process (push + current per chunk, no gRPC)",
};

export interface ExtProcSample {
  row: RowId | "usage-reader";
  round: number;
  streams: number;
  chunksPerSecond: number;
  cpuPer1kChunks: number;
  p50Ms: number;
  p99Ms: number;
  otherLoad: number;
}

interface Server {
  id: RowId;
  running: Running;
  addr: string;
}

function headerMap(h: Record<string, string>) {
  return { headers: Object.entries(h).map(([key, value]) => ({ key, value: "", rawValue: Buffer.from(value) })) };
}

/** What Check writes for one admitted call: decision_id, tenant and a signed reservation on one stream_stop token counter. */
function checkMetadata(key: Uint8Array): Record<string, Record<string, unknown>> {
  const now = Date.now();
  const decisionId = randomUUID();
  const reservation = encodeReservation(
    {
      v: 1,
      decisionId,
      provider: STREAM.provider,
      operation: STREAM.operation,
      model: "gpt-4o-mini",
      stream: true,
      estimatedInputTokens: 50,
      issuedAtMs: now,
      counters: [{ name: "tokens_per_minute", key: "60s:tenant:bench:tokens_per_minute", hashTag: "policy:bench", algorithm: "fixed_window", windowSeconds: 60, windowStartMs: now - (now % 60_000), limit: 1_000_000_000, reserved: 1000, streamStop: true }],
    },
    key,
  );
  return { [AUTHZ_NAMESPACE]: { decision_id: decisionId, tenant: "bench", [RESERVATION_METADATA_KEY]: reservation } };
}

function request(part: Partial<ProcessingRequest>, metadata: Record<string, Record<string, unknown>>): ProcessingRequest {
  return { ...part, metadataContext: { filterMetadata: metadata, typedFilterMetadata: {} }, attributes: {}, observabilityMode: false };
}

/**
 * One response through the server in Envoy's STREAMED mode: headers, wait for their answer (Envoy
 * holds the body until then), then every chunk as it comes without waiting, answers in order.
 * Resolves with the last answer and the time from the headers to it.
 */
function oneStream(client: ExternalProcessorClient, metadata: Record<string, Record<string, unknown>>): Promise<{ ms: number; last: ProcessingResponse }> {
  const started = performance.now();
  const call = client.process();
  let answers = 0;
  let last: ProcessingResponse | undefined;
  return new Promise((resolve, reject) => {
    const sendBody = async (): Promise<void> => {
      for (let i = 0; i < CHUNKS; i++) {
        if (!call.write(request({ responseBody: { body: Buffer.from(STREAM.chunks[i]!), endOfStream: i === CHUNKS - 1 } }, metadata))) await once(call, "drain");
      }
    };
    call.on("data", (res: ProcessingResponse) => {
      answers += 1;
      if (answers === 1) {
        if (!res.responseHeaders || res.modeOverride) return reject(new TollgateError("internal_error", `ext_proc bench: headers answered ${JSON.stringify(res)}`));
        sendBody().catch(reject);
      } else if (!res.responseBody || res.responseBody.response?.bodyMutation) {
        reject(new TollgateError("internal_error", `ext_proc bench: chunk ${answers - 1} answered ${JSON.stringify(res)}`));
      } else if (answers === CHUNKS + 1) {
        last = res;
        call.end();
      }
    });
    call.on("error", (err) => reject(err));
    call.on("status", (s: { code: number; details: string }) => {
      if (s.code === 0 && last) resolve({ ms: performance.now() - started, last });
      else reject(new TollgateError("internal_error", `ext_proc bench: stream ended with ${s.code} ${s.details} after ${answers} answers`));
    });
    call.write(request({ responseHeaders: { headers: headerMap({ ":status": "200", "content-type": "text/event-stream" }), attributes: {}, endOfStream: false } }, metadata));
  });
}

function clients(addr: string, n: number): ExternalProcessorClient[] {
  // A local subchannel pool per client: n real connections, not one shared.
  return Array.from({ length: n }, () => new ExternalProcessorClient(addr, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Streams for `seconds` from `concurrency` loops; every stream started is finished and counted, so the CPU read covers exactly the work counted. */
async function measure(o: ExtProcBenchOptions, server: Server, key: Uint8Array, round: number, seconds: number): Promise<ExtProcSample> {
  const cs = clients(server.addr, o.connections);
  try {
    await Promise.all(cs.map((c) => oneStream(c, checkMetadata(key)))); // connections open before the clock starts
    const cpu0 = readTreeCpuSeconds(server.running.pid);
    const busy0 = readMachineBusySeconds();
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: o.concurrency }, async (_, i) => {
        while (performance.now() < deadline) latencies.push((await oneStream(cs[i % cs.length]!, checkMetadata(key))).ms);
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = readTreeCpuSeconds(server.running.pid) - cpu0;
    const self = process.cpuUsage(self0);
    const busy = readMachineBusySeconds() - busy0;
    assertAlive(server.running);
    const chunks = latencies.length * CHUNKS;
    latencies.sort((a, b) => a - b);
    return {
      row: server.id,
      round,
      streams: latencies.length,
      chunksPerSecond: chunks / elapsed,
      cpuPer1kChunks: (cpu / chunks) * 1000,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      // Cores busy with anything but the server and this client (which drives the load, like ghz).
      otherLoad: Math.max(0, (busy - cpu - (self.user + self.system) / 1e6) / elapsed),
    };
  } finally {
    for (const c of cs) c.close();
  }
}

/** The per-chunk work tollgate does in process (the usage reader), timed on this process's CPU. */
async function measureReader(round: number, seconds: number): Promise<ExtProcSample> {
  const one = async () => {
    const r = createUsageReader({ provider: STREAM.provider, operation: STREAM.operation, stream: true, contentType: STREAM.contentType });
    for (const c of STREAM.chunks) {
      r.push(c);
      r.current();
    }
    const count = await r.end();
    if (count.inputTokens + count.outputTokens !== ACTUAL_TOKENS) throw new TollgateError("internal_error", `usage reader counted ${JSON.stringify(count)}`);
  };
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await one();
    n += 1;
  }
  const self = process.cpuUsage(self0);
  const cpu = (self.user + self.system) / 1e6;
  return { row: "usage-reader", round, streams: n, chunksPerSecond: (n * CHUNKS) / cpu, cpuPer1kChunks: (cpu / (n * CHUNKS)) * 1000, p50Ms: 0, p99Ms: 0, otherLoad: 0 };
}

async function startServers(o: ExtProcBenchOptions, workDir: string, keyFile: string): Promise<Server[]> {
  const tollgateAddr = `127.0.0.1:${await freePort()}`;
  const noopAddr = `127.0.0.1:${await freePort()}`;
  const tollgate = startPinned({
    name: "tollgate-extproc",
    cpu: o.serverCpu,
    cmd: process.execPath,
    // The memory store: the reconcile is one store call per response (200 chunks), and the chunks are what is measured.
    args: [path.join(ROOT, "bin", "tollgate.mjs"), "serve", "--grpc-addr", tollgateAddr, "--http-addr", `127.0.0.1:${await freePort()}`, "--policies", path.join(ROOT, "policies"), "--no-policy-tests", "--no-watch", "--log-level", "warn", "--reservation-key-file", keyFile],
    cwd: ROOT,
    logFile: path.join(workDir, "tollgate-extproc.log"),
  });
  const noop = startPinned({ name: "extproc-noop", cpu: o.serverCpu, cmd: process.execPath, args: [path.join(ROOT, "bench", "extproc-noop-server.mjs"), noopAddr], logFile: path.join(workDir, "extproc-noop.log") });
  return [
    { id: "extproc-tollgate", running: tollgate, addr: tollgateAddr },
    { id: "extproc-noop", running: noop, addr: noopAddr },
  ];
}

/** Before timing: each server answers a whole response, and tollgate writes back the usage it counted. */
async function verify(servers: Server[], key: Uint8Array): Promise<string> {
  for (const s of servers) {
    const [c] = clients(s.addr, 1);
    try {
      const { last } = await waitFor({ what: `${s.id} to answer a stream`, timeoutMs: 30_000, fn: () => oneStream(c!, checkMetadata(key)) });
      if (s.id === "extproc-tollgate") {
        const usage = last.dynamicMetadata?.["tollgate.usage"] as { actual_tokens?: number } | undefined;
        if (usage?.actual_tokens !== ACTUAL_TOKENS) throw new TollgateError("internal_error", `tollgate counted ${JSON.stringify(usage)} for a response reporting ${ACTUAL_TOKENS} tokens`);
      }
    } finally {
      c!.close();
    }
  }
  return `tollgate answered a whole ${CHUNKS}-chunk response unchanged and wrote back actual_tokens ${ACTUAL_TOKENS} (50 prompt + ${CHUNKS} completion, as its last chunk reports); the no-op server answered every message.`;
}

export interface ExtProcResult {
  samples: ExtProcSample[];
  /** The markdown section for BENCHMARKS.md. */
  body: string;
}

export async function runExtProcBench(o: ExtProcBenchOptions): Promise<ExtProcResult> {
  // The client is this process: on the load CPU, like ghz for the other rows (all its threads).
  if (o.loadCpu !== undefined && spawnSync("taskset", ["-a", "-p", "-c", String(o.loadCpu), String(process.pid)], { stdio: "ignore" }).status !== 0) {
    throw new TollgateError("config_error", "taskset could not pin the bench process; use --no-pin");
  }
  const workDir = mkdtempSync(path.join(os.tmpdir(), "tollgate-bench-extproc-"));
  const keyFile = path.join(workDir, "reservation.key");
  const key = Buffer.from(randomBytes(48).toString("base64"));
  writeFileSync(keyFile, key, { mode: 0o600 });
  const servers = await startServers(o, workDir, keyFile);
  try {
    const checked = await verify(servers, key);
    for (const s of servers) {
      o.log(`warm-up ${s.id} (${o.warmupSeconds} s)`);
      await measure(o, s, key, 0, o.warmupSeconds);
    }
    await measureReader(0, 1);
    const samples: ExtProcSample[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const order = round % 2 === 1 ? servers : [...servers].reverse();
      for (const s of order) {
        const sample = await measure(o, s, key, round, o.durationSeconds);
        samples.push(sample);
        o.log(`round ${round} ${s.id}: ${sample.chunksPerSecond.toFixed(0)} chunks/s, ${sample.cpuPer1kChunks.toFixed(4)} CPU s/1k chunks, stream p50 ${sample.p50Ms.toFixed(1)} ms p99 ${sample.p99Ms.toFixed(1)} ms`);
      }
      samples.push(await measureReader(round, Math.min(o.durationSeconds, 3)));
    }
    return { samples, body: report(o, samples, checked) };
  } finally {
    await Promise.all(servers.map((s) => s.running.stop()));
  }
}

function report(o: ExtProcBenchOptions, samples: readonly ExtProcSample[], checked: string): string {
  const rows = (["extproc-tollgate", "extproc-noop", "usage-reader"] as const).map((row) => {
    const mine = samples.filter((s) => s.row === row);
    const m = (k: keyof ExtProcSample) => median(mine.map((s) => s[k] as number));
    return { row, chunksPerSecond: m("chunksPerSecond"), cpu: m("cpuPer1kChunks"), p50: m("p50Ms"), p99: m("p99Ms"), streams: mine.reduce((n, s) => n + s.streams, 0), other: m("otherLoad") };
  });
  const byRound = (k: "chunksPerSecond" | "cpuPer1kChunks") =>
    [...new Set(samples.map((s) => s.round))].map((r) => {
      const t = samples.find((s) => s.round === r && s.row === "extproc-tollgate")!;
      const n = samples.find((s) => s.round === r && s.row === "extproc-noop")!;
      return t[k] / n[k];
    });
  const range = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)} – ${Math.max(...xs).toFixed(2)})`;
  const [t, n, r] = rows as [(typeof rows)[number], (typeof rows)[number], (typeof rows)[number]];
  const pin = o.serverCpu === undefined ? "no CPU pinning" : `servers on CPU ${o.serverCpu}, the client on CPU ${o.loadCpu}`;
  return [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC. ${CHUNKS}-chunk OpenAI chat SSE responses (usage in the last chunk), ${o.concurrency} streams in flight over ${o.connections} connections, ${o.durationSeconds} s per run, ${o.rounds} rounds, ${pin}. Medians over rounds.`,
    "",
    "| row | chunks / s | server CPU s / 1k chunks | chunks / s one server core carries (1000 ÷ CPU) | response p50 ms | response p99 ms | responses | other load, cores |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...[t, n].map((x) => `| ${EXTPROC_ROW_LABELS[x.row]} | ${x.chunksPerSecond.toFixed(0)} | ${x.cpu.toFixed(4)} | ${(1000 / x.cpu).toFixed(0)} | ${x.p50.toFixed(1)} | ${x.p99.toFixed(1)} | ${x.streams} | ${x.other.toFixed(2)} |`),
    `| ${EXTPROC_ROW_LABELS["usage-reader"]} | – | ${r.cpu.toFixed(4)} (this process's CPU) | ${(1000 / r.cpu).toFixed(0)} | – | – | ${r.streams} | – |`,
    "",
    `tollgate ÷ no-op, round by round (median, range): chunks per second ${range(byRound("chunksPerSecond"))}; server CPU per chunk ${range(byRound("cpuPer1kChunks"))}. tollgate's own work per chunk above the no-op floor: ${((t.cpu - n.cpu) * 1000).toFixed(1)} µs, of which the usage reader alone takes ${(r.cpu * 1000).toFixed(1)} µs.`,
    "",
    `Checked before timing: ${checked}`,
  ].join("\n");
}
