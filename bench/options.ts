import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import path from "node:path";
import { TollgateError } from "../src/errors.js";
import { DEFAULT_LLM_PAYLOADS, DEFAULT_RLS_PAYLOADS, DEFAULT_STARTER_PAYLOADS } from "./payloads.js";

const ROOT = path.join(import.meta.dirname, "..");

export const ROW_IDS = [
  "ceiling", "tollgate-check", "tollgate-check-shadow", "tollgate-check-starter", "opa-check", "tollgate-rls", "ratelimit-rls",
  "tollgate-rls-workers", "ratelimit-rls-2cpu", "tollgate-rls-cluster",
] as const;
export type RowId = (typeof ROW_IDS)[number];

export interface BenchOptions {
  mode: "compare" | "soak" | "profile" | "extproc";
  /** Run the ext_proc streamed-response rows (bench/extproc.ts): with --extproc, or after a compare run of every row. */
  extproc: boolean;
  durationSeconds: number;
  warmupSeconds: number;
  rounds: number;
  concurrency: number;
  connections: number;
  rows: RowId[];
  policies: string;
  checkPayloads: string;
  comparePolicies: string;
  comparePayloads: string;
  rlsPayloads: string;
  ratelimitConfig: string;
  decisionPath: string;
  serverCpu: number | undefined;
  loadCpu: number | undefined;
  halfRate: boolean;
  soakCount: number;
  build: boolean;
  write: boolean;
  /** The checkout whose bin/tollgate.mjs the tollgate rows run (this one unless --tollgate-from). */
  tollgateRoot: string;
  doc: string;
  resultsDir: string;
}

export const USAGE = `npm run bench -- [options]
  --duration <s>            seconds per timed run (10)
  --warmup <s>              unrecorded seconds per row before round 1 (3)
  --rounds <n>              rounds; rows alternate within each round, order reversed every other round (2)
  --concurrency <n>         ghz concurrent calls (32)
  --connections <n>         ghz HTTP/2 connections (2)
  --rows <a,b>              subset of ${ROW_IDS.join(", ")}
  --policies <dir>          policy folder for the tollgate rows (policies)
  --check-payloads <file>   Check payloads for it (bench/payloads/check-llm.json)
  --compare-policies <dir>  policy folder both tollgate and opa-envoy-plugin evaluate (examples/starter)
  --compare-payloads <file> Check payloads for that pair (bench/payloads/check-starter.json)
  --rls-payloads <file>     ShouldRateLimit payloads (bench/payloads/rls.json)
  --ratelimit-config <dir>  envoyproxy/ratelimit YAML folder, for both RLS rows (ratelimit)
  --decision-path <path>    (envoy/authz/allow)
  --server-cpu <n> / --load-cpu <n>   taskset CPUs (1 / 0); --no-pin turns pinning off
  --no-half-rate            skip the p99-at-half-of-max-rps runs
  --soak [--soak-count n]   1,000,000 Checks against tollgate, reporting RSS growth
  --profile                 V8 CPU profiles of tollgate under Check and ShouldRateLimit load
  --extproc                 only the ext_proc rows: a 200-chunk streamed response (a compare run without --rows ends with them)
  --tollgate-from <dir>     run the tollgate rows from another checkout (built, e.g. a git worktree),
                            to compare a change with the bench's own rows; needs --no-write
  --no-build                skip npm run build
  --no-write                print only; leave BENCHMARKS.md alone`;

function positiveInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new TollgateError("config_error", `--${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

function cpu(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new TollgateError("config_error", `--${name} must be a CPU number, got ${JSON.stringify(v)}`);
  return n;
}

export function parseOptions(argv: string[]): BenchOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      help: { type: "boolean" },
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      concurrency: { type: "string" },
      connections: { type: "string" },
      rows: { type: "string" },
      policies: { type: "string" },
      "check-payloads": { type: "string" },
      "compare-policies": { type: "string" },
      "compare-payloads": { type: "string" },
      "rls-payloads": { type: "string" },
      "ratelimit-config": { type: "string" },
      "decision-path": { type: "string" },
      "server-cpu": { type: "string" },
      "load-cpu": { type: "string" },
      "no-pin": { type: "boolean" },
      "no-half-rate": { type: "boolean" },
      soak: { type: "boolean" },
      "soak-count": { type: "string" },
      profile: { type: "boolean" },
      extproc: { type: "boolean" },
      "no-build": { type: "boolean" },
      "no-write": { type: "boolean" },
      "tollgate-from": { type: "string" },
    },
  });
  if (values.help) return "help";
  if ([values.soak, values.profile, values.extproc].filter(Boolean).length > 1) throw new TollgateError("config_error", "--soak, --profile and --extproc are separate runs; give one");
  const rows = values.rows === undefined ? [...ROW_IDS] : values.rows.split(",").map((r) => r.trim());
  for (const r of rows) if (!(ROW_IDS as readonly string[]).includes(r)) throw new TollgateError("config_error", `unknown row ${JSON.stringify(r)}; rows are ${ROW_IDS.join(", ")}`);
  const serverCpu = cpu("server-cpu", values["server-cpu"], 1);
  const loadCpu = cpu("load-cpu", values["load-cpu"], 0);
  if (!values["no-pin"] && serverCpu === loadCpu) throw new TollgateError("config_error", "--server-cpu and --load-cpu must differ");
  const abs = (p: string | undefined, fallback: string) => path.resolve(ROOT, p ?? fallback);
  const tollgateRoot = abs(values["tollgate-from"], ".");
  if (values["tollgate-from"] !== undefined) {
    if (!values["no-write"]) throw new TollgateError("config_error", "--tollgate-from measures another checkout; add --no-write so BENCHMARKS.md keeps this one's results");
    if (!existsSync(path.join(tollgateRoot, "bin", "tollgate.mjs")) || !existsSync(path.join(tollgateRoot, "dist"))) {
      throw new TollgateError("config_error", `--tollgate-from ${values["tollgate-from"]}: no bin/tollgate.mjs and dist/ there (run npm run build in it)`);
    }
  }
  return {
    mode: values.soak ? "soak" : values.profile ? "profile" : values.extproc ? "extproc" : "compare",
    extproc: values.extproc === true || (!values.soak && !values.profile && values.rows === undefined),
    durationSeconds: positiveInt("duration", values.duration, 10),
    warmupSeconds: positiveInt("warmup", values.warmup, 3),
    rounds: positiveInt("rounds", values.rounds, 2),
    concurrency: positiveInt("concurrency", values.concurrency, 32),
    connections: positiveInt("connections", values.connections, 2),
    rows: rows as RowId[],
    policies: abs(values.policies, "policies"),
    checkPayloads: abs(values["check-payloads"], DEFAULT_LLM_PAYLOADS),
    comparePolicies: abs(values["compare-policies"], "examples/starter"),
    comparePayloads: abs(values["compare-payloads"], DEFAULT_STARTER_PAYLOADS),
    rlsPayloads: abs(values["rls-payloads"], DEFAULT_RLS_PAYLOADS),
    ratelimitConfig: abs(values["ratelimit-config"], "ratelimit"),
    decisionPath: values["decision-path"] ?? "envoy/authz/allow",
    serverCpu: values["no-pin"] ? undefined : serverCpu,
    loadCpu: values["no-pin"] ? undefined : loadCpu,
    halfRate: !values["no-half-rate"],
    soakCount: positiveInt("soak-count", values["soak-count"], 1_000_000),
    build: !values["no-build"],
    write: !values["no-write"],
    tollgateRoot,
    doc: path.join(ROOT, "BENCHMARKS.md"),
    resultsDir: path.join(ROOT, "bench", "results"),
  };
}
