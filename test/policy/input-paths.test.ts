import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { buildInput } from "../../src/authz/input.js";
import { SETTINGS_DEFAULTS } from "../../src/config/settings.js";
import { CheckRequest } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { llmEnricher } from "../../src/llm/enricher.js";
import { buildPolicies } from "../../src/policy/build.js";
import * as opaCli from "../../src/policy/opa-cli.js";
import { pruneInput } from "../../src/policy/input-paths.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { loadCheckPayloads, preparePolicyDir } from "../../bench/payloads.js";
import { writePolicyDir } from "../support/app.js";

vi.mock("../../src/policy/opa-cli.js", { spy: true });

/** The input paths tollgate reads from a one-module policy, through OPA's parser. */
async function pathsOf(rego: string) {
  const dir = writePolicyDir({ "p.rego": `package envoy.authz\n\n${rego}\n` });
  return (await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false })).inputPaths;
}

describe("the input paths a policy can read", () => {
  it("a reference keeps the subtree at its constant prefix; a variable or number key ends the prefix", async () => {
    expect(
      await pathsOf(`allow if {
	input.attributes.request.http.method == "GET"
	input.parsed_query["key"][0] == "x"
	some k
	input.llm[k].name == "y"
}`),
    ).toEqual({ attributes: { request: { http: { method: true } } }, parsed_query: { key: true }, llm: true });
  });

  it("an import keeps its path whole, whatever the alias reads below it", async () => {
    expect(await pathsOf(`import input.attributes.request.http as h\n\nallow if h.headers.x == "1"`)).toEqual({ attributes: { request: { http: true } } });
  });

  it("references inside template strings, comprehensions, every and with count too", async () => {
    expect(
      await pathsOf(`msg := $"user {input.user.name}"
ids := [x | some x in input.items]
allow if {
	every t in input.tags { t != "" }
	data.envoy.authz.msg == "user a" with input.user.name as "a"
}`),
    ).toEqual({ user: { name: true }, items: true, tags: true });
  });

  it.each([
    ["walk over input", "allow if walk(input, [_, _])"],
    ["input assigned to a variable", "allow if { x := input; x.user }"],
    ["a value looked up in input", 'allow if "admin" in input'],
    ["input imported whole", "import input\n\nallow if input.user"],
    ["input passed to a function", "f(x) := x.user\n\nallow if f(input)"],
  ])("%s: the whole input (undefined)", async (_name, rego) => {
    expect(await pathsOf(rego)).toBeUndefined();
  });

  it("words in comments and strings are not references", async () => {
    expect(await pathsOf(`# input is whatever Envoy sends\nallow if input.user == "input"`)).toEqual({ user: true });
  });

  it("an edit of data.json alone reuses the analysis; an edit of a module parses again", async () => {
    const dir = writePolicyDir({ "p.rego": "package envoy.authz\n\nallow := input.user\n", "data.json": '{"a": 1}' });
    const parses = () => vi.mocked(opaCli.runOpa).mock.calls.filter(([args]) => args[0] === "eval").length;
    const build = () => buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false });
    const before = parses();
    expect((await build()).inputPaths).toEqual({ user: true });
    writeFileSync(path.join(dir, "data.json"), '{"a": 2}');
    const dataEdit = await build();
    expect(dataEdit.data).toEqual({ a: 2 });
    expect(dataEdit.inputPaths).toEqual({ user: true });
    expect(parses() - before).toBe(1);
    writeFileSync(path.join(dir, "p.rego"), "package envoy.authz\n\nallow := input.name\n");
    expect((await build()).inputPaths).toEqual({ name: true });
    expect(parses() - before).toBe(2);
  });

  it.each([
    ["a module in a hidden folder", (dir: string) => writeFileSync(path.join(writePolicyDir({ "h.rego": "package envoy.authz\n\nsecret := input.secret\n" }, path.join(dir, ".hidden")), "h.rego"), "package envoy.authz\n\nsecret := input.secret\n")],
    ["a module linked in from elsewhere", (dir: string) => symlinkSync(path.join(writePolicyDir({ "o.rego": "package envoy.authz\n\nsecret := input.secret\n" }), "o.rego"), path.join(dir, "linked.rego"))],
  ])("%s, which opa compiles but the folder scan skips: the whole input", async (_name, add) => {
    const dir = writePolicyDir({ "p.rego": "package envoy.authz\n\nallow := {\"user\": input.user, \"secret\": secret}\n" });
    add(dir);
    const built = await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false });
    expect(built.inputPaths).toBeUndefined();
    expect(new WasmPolicyEngine(built, createHostBuiltins()).evaluate({ user: "a", secret: "s" })).toEqual([{ result: { user: "a", secret: "s" } }]);
  });

  it("a key named __proto__ is a key like any other", async () => {
    const paths = await pathsOf(`allow if input.__proto__.x == 1`);
    expect(Object.keys(paths!)).toEqual(["__proto__"]);
    const pruned = pruneInput(JSON.parse('{"__proto__": {"x": 1}, "y": 2}'), paths!) as Record<string, unknown>;
    expect(JSON.stringify(pruned)).toBe('{"__proto__":{"x":1}}');
  });
});

describe("pruneInput", () => {
  const input = { a: { b: { c: 1, d: 2 }, e: [1, 2] }, f: "text", g: { h: 1 } };

  it("copies the objects along each path with the kept keys only; kept subtrees are the same values", () => {
    const pruned = pruneInput(input, { a: { b: { c: true }, e: true }, f: true }) as typeof input;
    expect(pruned).toEqual({ a: { b: { c: 1 }, e: [1, 2] }, f: "text" });
    expect(pruned.a.e).toBe(input.a.e);
    expect(input.a.b).toEqual({ c: 1, d: 2 });
  });

  it("a path going on below a value that is not an object keeps that value whole; missing keys stay missing", () => {
    expect(pruneInput(input, { f: { x: true }, a: { e: { "0": true } }, zz: true })).toEqual({ f: "text", a: { e: [1, 2] } });
  });
});

describe("the shipped pack and the starter policy on pruned input", () => {

  it.each([
    ["policies", "bench/payloads/check-llm.json"],
    ["examples/starter", "bench/payloads/check-starter.json"],
  ])("%s: the same answer as on the whole input for every bench payload, on less than the whole input", async (dir, file) => {
    // With the bench's data patch (its keys as tenants), so that allowed requests are among them.
    const { dataPatch, payloads } = loadCheckPayloads(file);
    const policies = preparePolicyDir({ policies: dir, ...(dataPatch ? { dataPatch } : {}), tmpDir: mkdtempSync(path.join(os.tmpdir(), "tollgate-prune-")) });
    const built = await buildPolicies({ dir: policies, entrypoint: "envoy/authz/allow", runTests: false });
    expect(built.inputPaths).toBeDefined();
    const pruning = new WasmPolicyEngine(built, createHostBuiltins());
    const whole = new WasmPolicyEngine({ ...built, inputPaths: undefined }, createHostBuiltins());
    const enrich = llmEnricher(SETTINGS_DEFAULTS.llm);
    const allowed = new Set<boolean>();
    for (const { request } of payloads) {
      const input = buildInput(CheckRequest.fromJSON(request), { skipBodyParse: false, limits: SETTINGS_DEFAULTS.limits });
      enrich(input, pruning);
      const answer = pruning.evaluate(input) as { result: { allowed?: boolean } | boolean }[];
      expect(answer).toEqual(whole.evaluate(input));
      const result = answer[0]?.result;
      allowed.add(typeof result === "boolean" ? result : result?.allowed === true);
      expect(JSON.stringify(pruneInput(input, built.inputPaths!)).length).toBeLessThan(JSON.stringify(input).length * 0.8);
    }
    expect([...allowed].sort()).toEqual([false, true]);
  });
});

describe("a wrong set of paths is caught before the revision goes live", () => {
  it("checkInputPruning turns pruning off when the pruned input answers differently, and evaluation then sees the whole input", async () => {
    const built = await buildPolicies({ dir: writePolicyDir({ "p.rego": "package envoy.authz\n\nallow := input.user\n" }), entrypoint: "envoy/authz/allow", runTests: false });
    expect(built.inputPaths).toEqual({ user: true });
    const right = new WasmPolicyEngine(built, createHostBuiltins());
    expect(right.checkInputPruning({ user: "a", other: 1 })).toBe("pruned");
    const wrong = new WasmPolicyEngine({ ...built, inputPaths: { other: true } }, createHostBuiltins());
    expect(wrong.evaluate({ user: "a", other: 1 })).toEqual([]);
    expect(wrong.checkInputPruning({ user: "a", other: 1 })).toBe("turned_off");
    expect(wrong.evaluate({ user: "a", other: 1 })).toEqual([{ result: "a" }]);
    expect(new WasmPolicyEngine({ ...built, inputPaths: undefined }, createHostBuiltins()).checkInputPruning({ user: "a" })).toBe("whole");
  });
});
