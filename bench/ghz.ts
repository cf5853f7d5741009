import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { TollgateError } from "../src/errors.js";
import { PROTOSET } from "./grpc-call.js";

export interface LoadOptions {
  ghz: string;
  addr: string;
  call: string;
  /** JSON array of messages, sent round-robin. */
  dataFile: string;
  concurrency: number;
  connections: number;
  /** Exactly one of durationSeconds and total. */
  durationSeconds?: number;
  total?: number;
  /** Constant request rate; unset means as fast as the server answers. */
  rps?: number;
  /** CPU the load generator is pinned to. */
  cpu: number | undefined;
  outFile: string;
}

export interface LoadResult {
  count: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  avgMs: number;
  statusCodes: Record<string, number>;
  errors: Record<string, number>;
  /** Calls still in flight when a timed (-z) run ended, which ghz reports as transport errors. */
  cutAtEnd: number;
  wallSeconds: number;
}

const END_OF_RUN = /use of closed network connection|client connection is closing|context canceled/;

/** Splits ghz's error distribution into real errors and the in-flight calls a timed run cuts off (at most one per concurrent call). */
export function splitErrors(dist: Record<string, number>, opts: { timed: boolean; concurrency: number }): { errors: Record<string, number>; cutAtEnd: number } {
  const errors: Record<string, number> = {};
  let cut = 0;
  for (const [msg, n] of Object.entries(dist)) {
    if (opts.timed && END_OF_RUN.test(msg)) cut += n;
    else errors[msg] = n;
  }
  if (cut > opts.concurrency) {
    errors["more calls cut at the end of the run than there were concurrent calls"] = cut;
    cut = 0;
  }
  return { errors, cutAtEnd: cut };
}

interface GhzReport {
  count: number;
  total: number;
  average: number;
  rps: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution: Record<string, number> | null;
  errorDistribution: Record<string, number> | null;
}

const NS_PER_MS = 1e6;

export function ghzArgs(o: LoadOptions): string[] {
  const args = [
    "--insecure", "--protoset", PROTOSET, "--call", o.call, "-D", o.dataFile,
    "-c", String(o.concurrency), "--connections", String(o.connections), "--cpus", "1",
    // Without these ghz renders every message through text/template and tops out near a third
    // of what one server core can answer; the payloads use no template actions.
    "--disable-template-functions", "--disable-template-data",
    "-O", "json", "-o", o.outFile,
  ];
  if (o.durationSeconds !== undefined) args.push("-z", `${o.durationSeconds}s`, "-n", "0");
  if (o.total !== undefined) args.push("-n", String(o.total));
  if (o.rps !== undefined) args.push("-r", String(o.rps));
  args.push(o.addr);
  return args;
}

/** Runs ghz (pinned with taskset) and reads its JSON report. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if ((o.durationSeconds === undefined) === (o.total === undefined)) throw new TollgateError("config_error", "give exactly one of durationSeconds and total");
  const args = ghzArgs(o);
  const [cmd, full] = o.cpu === undefined ? [o.ghz, args] : ["taskset", ["-c", String(o.cpu), o.ghz, ...args]];
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, full, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err = (err + d.toString("utf8")).slice(-2000)));
    child.once("error", (e) => reject(new TollgateError("internal_error", `ghz: ${e.message}`)));
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new TollgateError("internal_error", `ghz exit ${code}: ${err.trim()}`))));
  });
  const wallSeconds = (performance.now() - started) / 1000;
  let report: GhzReport;
  try {
    report = JSON.parse(readFileSync(o.outFile, "utf8")) as GhzReport;
  } finally {
    rmSync(o.outFile, { force: true });
  }
  const split = splitErrors(report.errorDistribution ?? {}, { timed: o.durationSeconds !== undefined, concurrency: o.concurrency });
  const pct = (p: number) => (report.latencyDistribution ?? []).find((d) => d.percentage === p)?.latency ?? Number.NaN;
  return {
    count: report.count - split.cutAtEnd,
    rps: report.total > 0 ? (report.count - split.cutAtEnd) / (report.total / 1e9) : 0,
    p50Ms: pct(50) / NS_PER_MS,
    p99Ms: pct(99) / NS_PER_MS,
    avgMs: report.average / NS_PER_MS,
    statusCodes: report.statusCodeDistribution ?? {},
    errors: split.errors,
    cutAtEnd: split.cutAtEnd,
    wallSeconds,
  };
}
