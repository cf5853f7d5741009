/**
 * In-process A/B of one hot path in two checkouts, without gRPC: both versions are loaded side by
 * side in this process (each checkout's own src/), their answers compared, then timed in
 * alternation (A B, B A, …) as CPU per call. The way BENCHMARKS.md's issue 16 experiments were
 * measured; a checkout is e.g. `git worktree add /tmp/before <commit>` with node_modules linked.
 *
 *   npx tsx bench/ab.ts --before <dir> --after <dir> [--path rls|check|check-eval] [--rounds 8] [--calls n]
 *
 * rls: the bench RLS payloads as wire bytes → decodeRateLimitRequest → RateLimitService on the
 * instrumented Redis store (a private redis-server) → RateLimitResponse.encode, 32 callers at once.
 * check: the shipped-pack payloads → buildInput + the LLM enricher + evaluate; check-eval: evaluate only.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_LLM_PAYLOADS, DEFAULT_RLS_PAYLOADS, loadCheckPayloads, loadRlsPayloads, preparePolicyDir } from "./payloads.js";
import { startRedis } from "./targets.js";

const ROOT = path.join(import.meta.dirname, "..");

interface Side {
  /** What the path answered for each payload, to compare before timing. */
  answers: string;
  run(calls: number): Promise<void>;
  close(): Promise<void>;
}

const load = <T>(root: string, file: string): Promise<T> => import(path.join(root, "src", file)) as Promise<T>;

async function rlsSide(root: string, redisUrl: string): Promise<Side> {
  const { decodeRateLimitRequest } = await load<typeof import("../src/ratelimit/handler.js")>(root, "ratelimit/handler.ts");
  const { RateLimitService } = await load<typeof import("../src/ratelimit/service.js")>(root, "ratelimit/service.ts");
  const { loadConfigFromSources } = await load<typeof import("../src/ratelimit/config/load.js")>(root, "ratelimit/config/load.ts");
  const { createRedisLimitStore } = await load<typeof import("../src/limits/redis/redis-store.js")>(root, "limits/redis/redis-store.ts");
  const { instrumentStore } = await load<typeof import("../src/limits/instrumented-store.js")>(root, "limits/instrumented-store.ts");
  const { Metrics } = await load<typeof import("../src/observability/metrics.js")>(root, "observability/metrics.ts");
  const { createLogger } = await load<typeof import("../src/observability/logger.js")>(root, "observability/logger.ts");
  const rls = await load<typeof import("../src/gen/envoy/service/ratelimit/v3/rls.js")>(root, "gen/envoy/service/ratelimit/v3/rls.ts");
  const logger = createLogger({ level: "fatal" });
  const config = loadConfigFromSources([{ name: "config.yaml", text: readFileSync(path.join(ROOT, "ratelimit", "config.yaml"), "utf8") }]);
  const raw = createRedisLimitStore({ url: redisUrl, keyPrefix: `ab${Date.now()}${Math.random().toString(36).slice(2)}:`, commandTimeoutMs: 5000, logger });
  await raw.waitUntilReady(5000);
  const service = new RateLimitService({ config: () => config, store: instrumentStore(raw, new Metrics()), logger, headers: { enabled: true } });
  const bytes = loadRlsPayloads(DEFAULT_RLS_PAYLOADS).map((p) => rls.RateLimitRequest.encode(rls.RateLimitRequest.fromJSON(p.request)).finish());
  const once = async (k: number) => rls.RateLimitResponse.encode(await service.shouldRateLimit(decodeRateLimitRequest(bytes[k % bytes.length]!))).finish();
  const answers: string[] = [];
  // Counters move between calls, so only the shape is compared: codes, limits and headers' names.
  for (let k = 0; k < bytes.length; k++) {
    const res = rls.RateLimitResponse.decode(await once(k));
    answers.push(JSON.stringify([res.overallCode, res.statuses.map((s) => [s.code, s.currentLimit]), res.responseHeadersToAdd.map((h) => h.key)]));
  }
  return {
    answers: answers.join("\n"),
    async run(calls) {
      let next = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < calls) await once(next++);
      }));
    },
    close: () => raw.close(),
  };
}

async function checkSide(root: string, policies: string, evalOnly: boolean): Promise<Side> {
  const { buildPolicies } = await load<typeof import("../src/policy/build.js")>(root, "policy/build.ts");
  const { WasmPolicyEngine } = await load<typeof import("../src/policy/wasm/wasm-engine.js")>(root, "policy/wasm/wasm-engine.ts");
  const { createHostBuiltins } = await load<typeof import("../src/policy/wasm/builtins/index.js")>(root, "policy/wasm/builtins/index.ts");
  const { buildInput } = await load<typeof import("../src/authz/input.js")>(root, "authz/input.ts");
  const { llmEnricher } = await load<typeof import("../src/llm/enricher.js")>(root, "llm/enricher.ts");
  const { SETTINGS_DEFAULTS } = await load<typeof import("../src/config/settings.js")>(root, "config/settings.ts");
  const { CheckRequest } = await load<typeof import("../src/gen/envoy/service/auth/v3/external_auth.js")>(root, "gen/envoy/service/auth/v3/external_auth.ts");
  const engine = new WasmPolicyEngine(await buildPolicies({ dir: policies, entrypoint: "envoy/authz/allow", runTests: false }), createHostBuiltins());
  const enrich = llmEnricher(SETTINGS_DEFAULTS.llm);
  const options = { skipBodyParse: false, limits: SETTINGS_DEFAULTS.limits };
  const bytes = loadCheckPayloads(DEFAULT_LLM_PAYLOADS).payloads.map((p) => CheckRequest.encode(CheckRequest.fromJSON(p.request)).finish());
  const input = (b: Uint8Array) => {
    const i = buildInput(CheckRequest.decode(b), options);
    enrich(i, engine);
    return i;
  };
  const inputs = bytes.map(input);
  return {
    answers: inputs.map((i) => JSON.stringify(engine.evaluate(i))).join("\n"),
    async run(calls) {
      for (let k = 0; k < calls; k++) engine.evaluate(evalOnly ? inputs[k % inputs.length] : input(bytes[k % bytes.length]!));
    },
    close: () => Promise.resolve(),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { before: { type: "string" }, after: { type: "string" }, path: { type: "string", default: "rls" }, rounds: { type: "string", default: "8" }, calls: { type: "string" } },
  });
  if (!values.before || !values.after || !["rls", "check", "check-eval"].includes(values.path)) {
    process.stderr.write("usage: npx tsx bench/ab.ts --before <dir> --after <dir> [--path rls|check|check-eval] [--rounds 8] [--calls n]\n");
    process.exit(2);
  }
  const rounds = Number(values.rounds);
  const calls = Number(values.calls ?? (values.path === "rls" ? 10_000 : 3_000));
  const work = mkdtempSync(path.join(os.tmpdir(), "tollgate-ab-"));
  const redis = values.path === "rls" ? await startRedis({ cpu: undefined, workDir: work }) : undefined;
  try {
    const make = async (root: string): Promise<Side> => {
      if (redis) return rlsSide(path.resolve(root), redis.url);
      const data = loadCheckPayloads(DEFAULT_LLM_PAYLOADS).dataPatch;
      const policies = preparePolicyDir({ policies: path.join(ROOT, "policies"), ...(data ? { dataPatch: data } : {}), tmpDir: work });
      return checkSide(path.resolve(root), policies, values.path === "check-eval");
    };
    const sides = { before: await make(values.before), after: await make(values.after) };
    if (sides.before.answers !== sides.after.answers) throw new Error(`the two versions answer differently:\n${sides.before.answers}\n---\n${sides.after.answers}`);
    for (const side of Object.values(sides)) await side.run(Math.ceil(calls / 3));
    const us = { before: [] as number[], after: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? (["before", "after"] as const) : (["after", "before"] as const)) {
        const t0 = process.cpuUsage();
        await sides[name].run(calls);
        const t = process.cpuUsage(t0);
        us[name].push((t.user + t.system) / calls);
      }
    }
    const ratios = us.before.map((b, i) => us.after[i]! / b);
    const fmt = (x: number) => x.toFixed(2);
    process.stdout.write(
      `${values.path}: CPU per call ${median(us.before).toFixed(1)} → ${median(us.after).toFixed(1)} µs; after ÷ before ${fmt(median(ratios))} (${fmt(Math.min(...ratios))}–${fmt(Math.max(...ratios))}) over ${rounds} rounds of ${calls}\n`,
    );
    await Promise.all(Object.values(sides).map((s) => s.close()));
  } finally {
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
