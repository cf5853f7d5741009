import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuiltPolicy } from "../../src/bundle/built-policy.js";
import { buildPolicies } from "../../src/policy/build.js";
import { preloadData, stringifyInSlices } from "../../src/policy/preload-data.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { compilePolicy, MEMORY_PAGES, WasmPolicyEngine, type CompiledPolicy } from "../../src/policy/wasm/wasm-engine.js";
import { writePolicyDir } from "../support/app.js";

// data.json loaded into the policy's memory by a worker thread (src/policy/preload-data.ts) and
// copied in by the engine a slice per turn must answer exactly as the same data loaded by setData
// on this thread, and must hold this thread for much less: that is its whole point.
const POLICY = `package envoy.authz

tenant := data.gateway.tenants[input.tenant]

allow := {
	"tenant": tenant,
	"tenants": count(data.gateway.tenants),
	"roles": [r | some r in data.gateway.roles[tenant.role].models],
	"echo": input,
}
`;

/** About 7 MB of data.json: setData takes 60-190 ms here (it grows faster than the data). */
const TENANTS = 20_000;

function data(): unknown {
  const tenants: Record<string, unknown> = {};
  for (let i = 0; i < TENANTS; i++) {
    tenants[`t${i}`] = {
      description: `tenant ${i}: grüße, 日本語, "quoted" and \\ escaped`,
      role: i % 2 ? "demo" : "full",
      api_key_sha256: [i.toString(16).padStart(64, "0")],
      limits: { requests_per_minute: 60 + i, tokens_per_minute: 20_000, tokens_per_day: 1_000_000 + i / 7 },
    };
  }
  return { gateway: { tenants, roles: { demo: { models: ["gpt-4o-mini", "claude-3-5-haiku*"] }, full: { models: ["*"] } } } };
}

describe("policy data loaded in a worker thread", () => {
  let dir: string;
  let built: BuiltPolicy;
  let module: CompiledPolicy;
  beforeAll(async () => {
    dir = writePolicyDir({ "allow.rego": POLICY, "data.json": JSON.stringify(data()) });
    built = await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false });
    module = await compilePolicy(built);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("answers exactly as data loaded on this thread, before and after an input that grows the memory", async () => {
    const here = new WasmPolicyEngine(built, createHostBuiltins(), module);
    const copied = new WasmPolicyEngine(built, createHostBuiltins(), module, { data: "later" });
    await copied.adopt(await preloadData(module, built.data, MEMORY_PAGES));
    const inputs = [{ tenant: "t0" }, { tenant: "t9999" }, { tenant: "t4321", note: "日本語 🚦" }, { tenant: "nobody" }, { tenant: "t7", pad: "x".repeat(8 * 1024 * 1024) }, { tenant: "t1" }];
    for (const input of inputs) {
      const answer = copied.evaluate(input) as { result?: { tenants: number } }[];
      expect(answer).toEqual(here.evaluate(input));
      if (input.tenant !== "nobody") expect(answer[0]?.result?.tenants).toBe(TENANTS);
    }
  }, 120_000);

  it("holds this thread for less than half as long as loading the data here (measured side by side)", async () => {
    // The longest this thread goes without a turn of its event loop while the work runs.
    const longestBlock = async (work: () => Promise<unknown>): Promise<number> => {
      let last = performance.now();
      let longest = 0;
      let ticking = true;
      const tick = (): void => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      await work();
      ticking = false;
      tick();
      return longest;
    };
    const here: number[] = [];
    const copied: number[] = [];
    for (let round = 0; round < 3; round++) {
      here.push(await longestBlock(async () => new WasmPolicyEngine(built, createHostBuiltins(), module)));
      copied.push(
        await longestBlock(async () => {
          const engine = new WasmPolicyEngine(built, createHostBuiltins(), module, { data: "later" });
          await engine.adopt(await preloadData(module, built.data, MEMORY_PAGES));
        }),
      );
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[1]!;
    console.info(`${TENANTS} tenants, longest block of this thread: data loaded here ${here.map((ms) => ms.toFixed(1)).join(" / ")} ms; loaded by the worker, copied in slices ${copied.map((ms) => ms.toFixed(1)).join(" / ")} ms`);
    expect(median(copied)).toBeLessThan(median(here) / 2);
  }, 120_000);

  it("a revision's data that cannot be loaded is refused by the worker as by setData", async () => {
    // Beyond the memory limit (256 MiB): opa-wasm cannot grow the memory for it.
    const huge = { blob: "x".repeat(300 * 1024 * 1024) };
    await expect(preloadData(module, huge, MEMORY_PAGES)).rejects.toThrow(/cannot load policy data/);
  }, 120_000);
});

describe("stringifyInSlices", () => {
  it("gives JSON.stringify's text for data read from JSON, large and small", async () => {
    const wide = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, { n: i, list: [i, `s${i}`, null, true, 1.5e-7], nested: { deep: [[], {}, ""] } }]));
    const samples: unknown[] = [
      null, 0, -1.25, 'text "quoted" 日本語 🚦 \u0001 \\', true, [], {},
      { a: { b: { c: wide } }, list: Array.from({ length: 3000 }, (_, i) => ({ i })), "weird key \n": 1 },
      JSON.parse(JSON.stringify(data())),
    ];
    for (const value of samples) expect(await stringifyInSlices(value)).toBe(JSON.stringify(value));
  }, 60_000);
});
