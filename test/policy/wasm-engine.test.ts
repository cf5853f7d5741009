import { createRequire } from "node:module";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuiltPolicy } from "../../src/bundle/built-policy.js";
import { buildPolicies } from "../../src/policy/build.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { EVAL_HEAP_WINDOW, WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { writePolicyDir } from "../support/app.js";

const sdk = createRequire(import.meta.url)("@open-policy-agent/opa-wasm") as typeof import("@open-policy-agent/opa-wasm");

// The engine writes the input's JSON text into the Wasm memory itself and calls opa_eval once;
// opa-wasm's own evaluate (the reference) must give the same result set for every input.
const POLICY = `package envoy.authz

allow := {
	"echo": input,
	"size": count(object.keys(input)),
	"hash": crypto.sha256(json.marshal(input)),
	"glyphs": count(input.text),
}
`;

describe("WasmPolicyEngine: input written straight into the Wasm memory", () => {
  let dir: string;
  let built: BuiltPolicy;
  beforeAll(async () => {
    dir = writePolicyDir({ "allow.rego": POLICY });
    built = await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function reference(input: unknown): unknown {
    const host = createHostBuiltins();
    const policy = sdk.loadPolicySync(built.wasm as Parameters<typeof sdk.loadPolicySync>[0], { initial: 16, maximum: 4096 }, host.builtins);
    policy.setData(built.data as object);
    return policy.evaluate(input, built.entrypoint);
  }

  it("answers as opa-wasm's evaluate for plain, Unicode and escaped text", () => {
    const engine = new WasmPolicyEngine(built, createHostBuiltins());
    const inputs = [
      { text: "hello", n: 1 },
      { text: "grüße, 日本語, emoji 🚦 and a lone \\ backslash", nested: { list: [1, 2.5, null, true] } },
      { text: 'quotes " and control \u0001 characters\n', empty: "" },
    ];
    for (const input of inputs) expect(engine.evaluate(input)).toEqual(reference(input));
  });

  it("grows the memory for an input larger than it holds, and evaluates small inputs after it", () => {
    const engine = new WasmPolicyEngine(built, createHostBuiltins());
    const before = engine.memoryBytes();
    // Three-byte characters: the encoded text (6 MiB) is three times its length, more than the 1 MiB start.
    const big = { text: "€".repeat(2 * 1024 * 1024) };
    const result = engine.evaluate(big) as { result: { glyphs: number; hash: string } }[];
    expect(engine.memoryBytes()).toBeGreaterThan(before + 6 * 1024 * 1024);
    expect(result[0]?.result.glyphs).toBe(2 * 1024 * 1024);
    expect(result).toEqual(reference(big));
    expect(engine.evaluate({ text: "small" })).toEqual(reference({ text: "small" }));
  });

  it("passes no input for a falsy one, as opa-wasm does", () => {
    const engine = new WasmPolicyEngine(built, createHostBuiltins());
    expect(engine.evaluate(undefined)).toEqual([]);
    expect(engine.evaluate(0)).toEqual(reference(0));
  });
});

// The heap is not reset after every evaluation, so the Wasm's built-in caches (RE2 programs for
// regex.match and glob.match) outlive one; nothing else may carry over from one evaluation to the next.
const MATCHING = `package envoy.authz

conflict := v if some v in input.values

allow := {
	"glob": glob.match(input.glob, ["/"], input.path),
	"regex": regex.match(input.regex, input.path),
	"echo": input,
	"conflict": conflict,
}
`;

describe("WasmPolicyEngine: the evaluation heap kept between evaluations", () => {
  let dir: string;
  let built: BuiltPolicy;
  beforeAll(async () => {
    dir = writePolicyDir({ "allow.rego": MATCHING });
    built = await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function referencePolicy() {
    const policy = sdk.loadPolicySync(built.wasm as Parameters<typeof sdk.loadPolicySync>[0], { initial: 16, maximum: 4096 }, createHostBuiltins().builtins);
    policy.setData(built.data as object);
    return (input: unknown) => policy.evaluate(input, built.entrypoint);
  }

  it("answers as opa-wasm's evaluate (a reset heap every time) across more patterns than the Wasm's cache holds", () => {
    const engine = new WasmPolicyEngine(built, createHostBuiltins());
    const reference = referencePolicy();
    // 150 distinct globs and regular expressions (the Wasm's RE2 cache keeps 100), each seen
    // several times, matching and not, over enough evaluations to pass the heap window.
    for (let i = 0; i < 900; i++) {
      const n = (i * 7) % 150;
      const input = { glob: `/v${n}/*/x{a,b}`, regex: `^/v${n}/[a-z]+/x[ab]$`, path: i % 3 === 0 ? `/v${n}/abc/xa` : `/v${n + 1}/abc/xb`, i };
      expect(engine.evaluate(input)).toEqual(reference(input));
    }
  });

  it("keeps the memory bounded over many evaluations", () => {
    const engine = new WasmPolicyEngine(built, createHostBuiltins());
    const input = { glob: "/v1/*", regex: "^/v1/", path: "/v1/models", text: "x".repeat(4096) };
    for (let i = 0; i < 200; i++) engine.evaluate(input);
    const after200 = engine.memoryBytes();
    for (let i = 0; i < 2000; i++) engine.evaluate(input);
    expect(engine.memoryBytes()).toBe(after200);
    expect(after200).toBeLessThan(EVAL_HEAP_WINDOW + 4 * 1024 * 1024);
  });

  it("resets the heap after an evaluation that failed inside the Wasm, and answers correctly after it", () => {
    const engine = new WasmPolicyEngine(built, createHostBuiltins());
    const reference = referencePolicy();
    const good = { glob: "/v1/*", regex: "^/v1/", path: "/v1/models" };
    expect(engine.evaluate(good)).toEqual(reference(good));
    // Two values for a complete rule: the Wasm aborts in the middle of the evaluation.
    expect(() => engine.evaluate({ ...good, values: [1, 2] })).toThrow(/policy evaluation failed/);
    for (const input of [good, { ...good, values: [3] }, { ...good, path: "/v2/models" }]) expect(engine.evaluate(input)).toEqual(reference(input));
  });
});
