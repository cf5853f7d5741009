import { writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { buildParityCases, type ParityCase } from "./builtins-cases.js";
import { buildWasm, generateTestKeys, loadPolicySync, runOpa, tempDir, wireValue } from "./builtins-support.js";

/** One object rule per built-in: results[case id] := fn(args...), undefined (absent) when the built-in fails. */
function parityPolicy(cases: Record<string, ParityCase>): string {
  const arity = new Map<string, number>();
  for (const c of Object.values(cases)) arity.set(c.fn, c.args.length);
  const rules = [...arity].map(([fn, n]) => {
    const args = Array.from({ length: n }, (_, i) => `c.args[${i}]`).join(", ");
    return `results[id] := x if {\n\tsome id\n\tc := data.cases[id]\n\tc.fn == "${fn}"\n\tx := ${fn}(${args})\n}\n`;
  });
  return `package parity\n\n${rules.join("\n")}`;
}

function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)));
}

describe("host built-ins answer exactly as OPA's own implementation", () => {
  let cases: Record<string, ParityCase>;
  let opaResults: Record<string, unknown>;
  let policy: string;

  beforeAll(() => {
    cases = buildParityCases(generateTestKeys());
    policy = parityPolicy(cases);
    const dir = tempDir();
    writeFileSync(path.join(dir, "parity.rego"), policy);
    writeFileSync(path.join(dir, "data.json"), JSON.stringify({ cases }));
    const r = runOpa(["eval", "--format", "json", "-d", path.join(dir, "parity.rego"), "-d", path.join(dir, "data.json"), "data.parity.results"]);
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout) as { result: [{ expressions: [{ value: Record<string, unknown> }] }] };
    opaResults = out.result[0].expressions[0].value;
  });

  it("covers a real mix of defined and undefined outcomes (sanity check of the table)", () => {
    const total = Object.keys(cases).length;
    const defined = Object.keys(opaResults).length;
    expect(total).toBeGreaterThan(200);
    expect(defined).toBeGreaterThan(150);
    expect(total - defined).toBeGreaterThan(30);
    expect(opaResults["decode_verify RS256 valid"]).toMatchObject([true, { alg: "RS256" }, { sub: "alice" }]);
    expect(opaResults["decode_verify expired (time = exp)"]).toEqual([false, {}, {}]);
    expect(opaResults["decode_verify garbage token"]).toBeUndefined();
  });

  it("direct calls – every case gives OPA's value, or undefined where OPA's built-in errors", () => {
    const host = createHostBuiltins({ clock: () => 1_700_000_000_000_000_000n });
    const direct: Record<string, unknown> = {};
    for (const [id, c] of Object.entries(cases)) {
      const fn = host.builtins[c.fn] as (...args: unknown[]) => unknown;
      host.beginEvaluation();
      const value = wireValue(fn(...c.args));
      if (value !== undefined) direct[id] = plain(value);
    }
    expect(direct).toEqual(opaResults);
  });

  it("compiled to WASM – the same policy evaluated by opa-wasm with tollgate's built-ins matches opa eval", () => {
    const built = buildWasm({ "parity.rego": policy }, ["parity/results"]);
    if ("failed" in built) throw new Error(built.failed.stdout + built.failed.stderr);
    const host = createHostBuiltins();
    const loaded = loadPolicySync(built.wasm, undefined, host.builtins);
    loaded.setData({ cases });
    host.beginEvaluation();
    const rs = loaded.evaluate({}, "parity/results") as [{ result: Record<string, unknown> }];
    expect(rs[0].result).toEqual(opaResults);
  });
});
