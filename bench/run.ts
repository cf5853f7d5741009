/**
 * `npm run bench`: tollgate beside its peers on this machine, in one run. See BENCHMARKS.md for
 * the method; `npm run bench -- --help` for the options.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TollgateError } from "../src/errors.js";
import { ROW_LABELS, startFleet, type Fleet } from "./fleet.js";
import { runExtProcBench } from "./extproc.js";
import { describeMachine, gitCommit } from "./machine.js";
import { measureRow } from "./measure.js";
import { parseOptions, USAGE, type BenchOptions, type RowId } from "./options.js";
import { runProfile } from "./profile-run.js";
import { formatCommands, pairRatios, pairsTable, rowsTable, summarise, writeSection, type Pair, type Sample } from "./report.js";
import { runSoak } from "./soak.js";
import { ensureTools, type ToolName } from "./tools.js";

const PAIRS: Pair[] = [
  { name: "tollgate Check (shipped policy) ÷ ceiling", numerator: "tollgate-check", denominator: "ceiling", goal: 0.7 },
  { name: "tollgate Check ÷ opa-envoy-plugin (compare policy: same Rego, data, payloads)", numerator: "tollgate-check-starter", denominator: "opa-check", goal: 1.5 },
  { name: "tollgate ShouldRateLimit ÷ envoyproxy/ratelimit (same Redis, same YAML)", numerator: "tollgate-rls", denominator: "ratelimit-rls", goal: 1.2 },
  { name: "tollgate Check (compare policy) ÷ ceiling", numerator: "tollgate-check-starter", denominator: "ceiling" },
  { name: "tollgate Check with a shadow candidate ÷ without (the cost of shadowing)", numerator: "tollgate-check-shadow", denominator: "tollgate-check" },
  { name: "tollgate ShouldRateLimit, --workers 2 on both CPUs ÷ 1 worker on one (scaling factor)", numerator: "tollgate-rls-workers", denominator: "tollgate-rls" },
  { name: "envoyproxy/ratelimit on both CPUs ÷ on one (its scaling factor)", numerator: "ratelimit-rls-2cpu", denominator: "ratelimit-rls" },
  { name: "tollgate ShouldRateLimit --workers 2 ÷ envoyproxy/ratelimit, both on both CPUs", numerator: "tollgate-rls-workers", denominator: "ratelimit-rls-2cpu" },
  { name: "tollgate ShouldRateLimit on a 3-master Redis Cluster ÷ on one Redis", numerator: "tollgate-rls-cluster", denominator: "tollgate-rls" },
];

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function build(): void {
  log("npm run build");
  const r = spawnSync("npm", ["run", "build"], { cwd: path.join(import.meta.dirname, ".."), stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new TollgateError("config_error", "npm run build failed");
}

function header(o: BenchOptions): string {
  const m = describeMachine();
  const pin = o.serverCpu === undefined ? "no CPU pinning" : `servers on CPU ${o.serverCpu}, ghz and the bench Redis on CPU ${o.loadCpu} (taskset)`;
  return [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC at commit \`${gitCommit()}\`.`,
    "",
    `Machine: ${m["cpu"]}; ${m["memory"]}; ${m["kernel"]}; Node ${m["node"]}; ${m["go"]}; ${m["redis"]}.`,
    "",
    `Load: ghz, ${o.concurrency} concurrent calls over ${o.connections} connections, ${o.durationSeconds} s per run, ${o.rounds} rounds, ${pin}.`,
  ].join("\n");
}

async function compare(o: BenchOptions, tools: Record<ToolName, string>): Promise<void> {
  if (o.tollgateRoot !== path.join(import.meta.dirname, "..")) log(`tollgate rows run ${o.tollgateRoot}`);
  const fleet: Fleet = await startFleet({ ...o, tools, tmpRoot: os.tmpdir(), log });
  let failed = true;
  try {
    for (const row of fleet.rows) {
      log(`warm-up ${row.id} (${o.warmupSeconds} s)`);
      await measureRow({ o, fleet, row, ghz: tools.ghz, round: 0, durationSeconds: o.warmupSeconds });
    }
    const samples: Sample[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      // Reversing every other round puts each row first as often as last: A B … B A.
      const order = round % 2 === 1 ? fleet.rows : [...fleet.rows].reverse();
      for (const row of order) {
        const { sample } = await measureRow({ o, fleet, row, ghz: tools.ghz, round });
        samples.push(sample);
        log(`round ${round} ${row.id}: ${sample.rps.toFixed(0)} rps, p50 ${sample.p50Ms.toFixed(3)} ms, p99 ${sample.p99Ms.toFixed(3)} ms, ${sample.cpuPer1k.toFixed(4)} CPU s/1k, redis ${formatCommands(sample.redisCommands)}, errors ${sample.errors}`);
        if (sample.errors > 0 || sample.nonOk > 0) throw new TollgateError("internal_error", `${row.id} had ${sample.errors} errors and ${sample.nonOk} non-OK gRPC statuses; see ${row.target.logFile}`);
      }
    }
    const summary = summarise(samples, ROW_LABELS);
    const pairs = pairRatios(samples, PAIRS);

    const half: string[] = [];
    if (o.halfRate) {
      // The ceiling is the control: what the machine itself does to p99 at half load.
      for (const id of ["ceiling", "tollgate-check", "tollgate-rls"] as RowId[]) {
        const row = fleet.rows.find((r) => r.id === id);
        const max = summary.find((s) => s.row === id)?.rps;
        if (!row || !max) continue;
        const rps = Math.floor(max / 2);
        log(`half rate ${id}: ${rps} rps for ${o.durationSeconds} s`);
        const { sample } = await measureRow({ o, fleet, row, ghz: tools.ghz, round: -1, rps });
        half.push(`| ${ROW_LABELS[id]} | ${rps} | ${sample.rps.toFixed(0)} | ${sample.p50Ms.toFixed(3)} | ${sample.p99Ms.toFixed(3)} | ${sample.p99Ms < 1 ? "yes" : "**no**"} |`);
      }
    }

    const body = [
      header(o),
      "",
      "Each figure is the median over the rounds.",
      "",
      rowsTable(summary),
      "",
      "Ratios, computed round by round (each from two runs back to back), median and range:",
      "",
      pairsTable(pairs),
      ...(half.length > 0
        ? ["", "Latency at half of the measured maximum rps (ghz --rps), goal p99 < 1 ms:", "", "| row | target rps | achieved rps | p50 ms | p99 ms | p99 < 1 ms |", "|---|---:|---:|---:|---:|---|", ...half]
        : []),
      ...(fleet.notes.length > 0 ? ["", "Checked before timing:", "", ...fleet.notes.map((n) => `- ${n}`)] : []),
      "",
      `Command: \`npm run bench${process.argv.slice(2).length > 0 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\``,
    ].join("\n");
    process.stdout.write(`\n${body}\n`);
    mkdirSync(o.resultsDir, { recursive: true });
    writeFileSync(path.join(o.resultsDir, "latest.json"), JSON.stringify({ options: o, samples, summary, pairs }, null, 2));
    if (o.write) {
      writeSection(o.doc, "results", body);
      log(`wrote the results section of ${o.doc}`);
    }
    failed = false;
  } finally {
    await fleet.stop(failed);
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (o.build) build();
  if (o.mode !== "extproc") {
    const tools = await ensureTools(["ghz", "grpcurl", "opa-envoy-plugin", "ratelimit"], log);
    if (o.mode === "soak") await runSoak(o, tools, log);
    else if (o.mode === "profile") await runProfile(o, tools, log);
    else await compare(o, tools);
  }
  if (o.extproc) await extproc(o);
}

/** The ext_proc rows: one streamed response through tollgate beside a no-op ext_proc server and the usage reader alone. */
async function extproc(o: BenchOptions): Promise<void> {
  const { body } = await runExtProcBench({ ...o, log });
  process.stdout.write(`\n${body}\n`);
  if (o.write) {
    writeSection(o.doc, "extproc", body);
    log(`wrote the ext_proc section of ${o.doc}`);
  }
}

// Exiting runs proc.ts's exit hook, which kills the servers this run started.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().catch((err: unknown) => {
  const e = TollgateError.from(err);
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
