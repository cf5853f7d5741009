import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { otherCases, type BuiltinCase } from "./builtins-cases.js";
import { tokenCases } from "./builtins-cases-jwt.js";
import { keyCases } from "./builtins-cases-keys.js";
import { buildWasm, generateKeys, loadPolicySync, repoRoot, runOpa, tempDir, wireJson } from "./builtins-support.js";

/**
 * Differential tests against OPA itself: every case of the table runs through the real
 * `opa eval` (topdown, non-strict), through tollgate's host built-in, and through the same
 * policy compiled to WASM with tollgate's host built-ins. All must agree: the same value, or
 * undefined where OPA's built-in fails. Documented deviations say what each side answers.
 */

const names = JSON.parse(readFileSync(path.join(repoRoot, "src/policy/wasm/builtins/names.json"), "utf8")) as string[];
const keys = generateKeys();
const table: BuiltinCase[] = [...tokenCases(keys), ...keyCases(keys), ...otherCases()];
const cases = table.filter((c) => !c.opaPanics).map((c, i) => ({ ...c, rule: `r${i}` }));
const panicCases = table.filter((c) => c.opaPanics);

/** One rule per case; json.marshal keeps exact integers (nanoseconds) as text. */
function policy(): string {
  const rules = cases.map((c, i) => `${c.rule} := json.marshal(${c.builtin}(${c.args.map((_, j) => `input.cases[${i}][${j}]`).join(", ")}))`);
  return ["package parity", "", ...rules, ""].join("\n");
}

const input = { cases: cases.map((c) => c.args) };
let opa: Record<string, string> = {};
let workDir = "";

beforeAll(() => {
  workDir = tempDir("tollgate-parity-");
  writeFileSync(path.join(workDir, "parity.rego"), policy());
  writeFileSync(path.join(workDir, "input.json"), JSON.stringify(input));
  const r = runOpa(["eval", "--format", "json", "--data", "parity.rego", "--input", "input.json", "data.parity"], workDir);
  if (r.status !== 0) throw new Error(`opa eval failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { result?: { expressions: { value: Record<string, string> }[] }[] };
  opa = out.result?.[0]?.expressions[0]?.value ?? {};
});

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const NUMBER = /^-?\d/;

/** Compares JSON texts: numbers exactly as written (nanosecond integers exceed doubles), the rest structurally. */
function expectSameJson(actual: string | undefined, expected: string | undefined, what: string): void {
  if (expected === undefined) {
    expect(actual, `${what}: expected undefined (a failed built-in)`).toBeUndefined();
  } else if (NUMBER.test(expected)) {
    expect(actual, what).toBe(expected);
  } else {
    expect(actual, `${what}: expected ${expected}`).toBeDefined();
    expect(JSON.parse(actual as string), what).toEqual(JSON.parse(expected));
  }
}

const asJson = (value: unknown): string | undefined => (value === undefined ? undefined : JSON.stringify(value));

/** What tollgate must answer for a case: OPA's answer, or the deviation's documented one. */
function tollgateExpects(c: BuiltinCase & { rule: string }): string | undefined {
  return c.deviation ? asJson(c.deviation.tollgate) : opa[c.rule];
}

describe("the case table", () => {
  it("has a case for every host built-in except time.now_ns, and only for host built-ins", () => {
    const covered = new Set(table.map((c) => c.builtin));
    expect(names.filter((n) => n !== "time.now_ns" && !covered.has(n))).toEqual([]);
    expect([...covered].filter((n) => !names.includes(n))).toEqual([]);
  });

  it("titles are unique per built-in, so a failure names one case", () => {
    const seen = table.map((c) => `${c.builtin} ${c.title}`);
    expect(seen.filter((t, i) => seen.indexOf(t) !== i)).toEqual([]);
  });

  it("opa eval answered a real mix of values and failures, including the anchors below", () => {
    const defined = cases.filter((c) => opa[c.rule] !== undefined).length;
    expect(cases.length).toBeGreaterThan(600);
    expect(defined).toBeGreaterThan(400);
    expect(cases.length - defined).toBeGreaterThan(150);
    const answer = (title: string) => {
      const c = cases.find((x) => x.title === title);
      return c && opa[c.rule] !== undefined ? JSON.parse(opa[c.rule] as string) : undefined;
    };
    expect(answer("RS256 decode_verify with the right key")).toEqual([true, { alg: "RS256", typ: "JWT" }, { sub: "alice", iat: 1_700_000_000 }]);
    expect(answer("exp exactly now is expired")).toEqual([false, {}, {}]);
    expect(answer("RSA 512-bit key via verify_rs256")).toBe(false);
    expect(answer("RSA exponent 1 JWK with a forged signature")).toEqual([false, {}, {}]);
    expect(answer("JWK kid not a string")).toBeUndefined();
  });
});

describe("host built-ins answer as opa eval does", () => {
  const host = createHostBuiltins();

  // One host in table order: cached signatures and keys must never leak into a later case.
  it.each(cases)("$builtin $title", (c) => {
    const fn = host.builtins[c.builtin] as (...args: unknown[]) => unknown;
    host.beginEvaluation();
    const ours = wireJson(fn(...c.args));
    if (c.deviation) {
      expectSameJson(opa[c.rule], asJson(c.deviation.opa), `OPA's answer, as the deviation documents (${c.deviation.reason})`);
    }
    expectSameJson(ours, tollgateExpects(c), "tollgate");
  });

  it.each(panicCases)("$builtin $title – undefined, where OPA v1.22.3 panics (unchecked type assertion in tokens.go)", (c) => {
    const fn = host.builtins[c.builtin] as (...args: unknown[]) => unknown;
    expect(fn(...c.args)).toBeUndefined();
  });
});

describe("compiled to WASM", () => {
  it("the same policy, built with tollgate's capabilities and run by opa-wasm with the host built-ins, gives every case's answer", () => {
    const built = buildWasm({ "parity.rego": policy() }, ["parity"]);
    if ("failed" in built) throw new Error(built.failed.stdout + built.failed.stderr);
    const host = createHostBuiltins();
    const loaded = loadPolicySync(built.wasm, undefined, host.builtins);
    host.beginEvaluation();
    const rs = loaded.evaluate(input, "parity") as [{ result: Record<string, string> }];
    const wasm = rs[0].result;
    const differences = cases.flatMap((c) => {
      try {
        expectSameJson(wasm[c.rule], tollgateExpects(c), c.title);
        return [];
      } catch {
        return [{ case: `${c.builtin} ${c.title}`, wasm: wasm[c.rule], expected: tollgateExpects(c) }];
      }
    });
    expect(differences).toEqual([]);
  });
});
