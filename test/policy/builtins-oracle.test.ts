import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findOpa } from "../../src/policy/opa-cli.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { generateKeys, oracleCases, type OracleCase } from "./builtins-oracle-cases.js";

/**
 * Differential tests: every case runs through tollgate's host built-in and through the real
 * `opa eval` (topdown, non-strict), and both must agree — the same value, or both undefined
 * (OPA turns a built-in error into undefined; so must tollgate).
 */

const names: string[] = JSON.parse(readFileSync(new URL("../../src/policy/wasm/builtins/names.json", import.meta.url), "utf8"));
const host = createHostBuiltins();
const allCases: OracleCase[] = oracleCases(generateKeys()).filter((c) => names.includes(c.builtin));
const cases = allCases.filter((c) => !c.opaPanics);
const panicCases = allCases.filter((c) => c.opaPanics);

let opaResults: Record<string, string> = {};
let workDir = "";

function regoModule(): string {
  const lines = ["package oracle", ""];
  cases.forEach((c, i) => {
    const args = c.args.map((_, j) => `input.cases[${i}][${j}]`).join(", ");
    lines.push(`r${i} := json.marshal(${c.builtin}(${args}))`);
  });
  return lines.join("\n") + "\n";
}

beforeAll(() => {
  workDir = mkdtempSync(path.join(os.tmpdir(), "tollgate-oracle-"));
  const policy = path.join(workDir, "oracle.rego");
  const input = path.join(workDir, "input.json");
  writeFileSync(policy, regoModule());
  writeFileSync(input, JSON.stringify({ cases: cases.map((c) => c.args) }));
  const out = execFileSync(findOpa(), ["eval", "--format", "json", "--data", policy, "--input", input, "data.oracle"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const parsed = JSON.parse(out) as { result?: { expressions: { value: Record<string, string> }[] }[] };
  opaResults = parsed.result?.[0]?.expressions[0]?.value ?? {};
});

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

function hostJsonText(result: unknown): string | undefined {
  if (result === undefined) return undefined;
  if (result instanceof ArrayBuffer) return new TextDecoder().decode(result);
  return JSON.stringify(result);
}

const NUMBER = /^-?\d/;

describe("host built-ins agree with opa eval", () => {
  it("every host built-in except time.now_ns has oracle cases", () => {
    const covered = new Set(cases.map((c) => c.builtin));
    expect(names.filter((n) => n !== "time.now_ns" && !covered.has(n))).toEqual([]);
  });

  it.each(panicCases)("$builtin $title – undefined, where OPA v1.22.3 panics (unchecked type assertion in tokens.go)", ({ builtin, args }) => {
    const fn = host.builtins[builtin] as (...a: unknown[]) => unknown;
    expect(fn(...args)).toBeUndefined();
  });

  it("the oracle policy evaluated and defined most cases (sanity check of the harness)", () => {
    expect(Object.keys(opaResults).length).toBeGreaterThan(cases.length / 3);
  });

  it.each(cases.map((c, i) => ({ ...c, i })))("$builtin $title – same answer as opa eval", ({ builtin, args, i }) => {
    const fn = host.builtins[builtin] as (...a: unknown[]) => unknown;
    host.beginEvaluation();
    const ours = hostJsonText(fn(...args));
    const theirs = opaResults[`r${i}`];
    if (theirs === undefined) {
      expect(ours, "OPA: undefined (built-in error)").toBeUndefined();
    } else if (NUMBER.test(theirs)) {
      // Nanosecond integers: compare the exact decimal text, not rounded doubles.
      expect(ours).toBe(theirs);
    } else {
      expect(ours, `OPA: ${theirs}`).toBeDefined();
      expect(JSON.parse(ours as string)).toEqual(JSON.parse(theirs));
    }
  });
});
