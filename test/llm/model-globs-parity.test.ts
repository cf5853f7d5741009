import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compiledRoles, compileGlob, modelRoles, MAX_PATTERN_LENGTH } from "../../src/llm/model-globs.js";
import type { PolicyEngine } from "../../src/policy/engine.js";
import { buildPolicies } from "../../src/policy/build.js";
import { WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { writePolicyDir } from "../support/app.js";
import { runOpa, tempDir } from "../policy/builtins-support.js";
import { buildInput } from "../../src/authz/input.js";
import { llmEnricher } from "../../src/llm/enricher.js";
import { SETTINGS_DEFAULTS } from "../../src/config/settings.js";
import { CheckRequest } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { DEFAULT_LLM_PAYLOADS, loadCheckPayloads, preparePolicyDir } from "../../bench/payloads.js";

// tollgate's model globs (src/llm/model-globs.ts) must answer exactly as glob.match(p, ["/"], m)
// in both of OPA's implementations: the real `opa eval` (Go, gobwas/glob) and the policy compiled
// to Wasm (the glob translated to RE2), for every glob tollgate accepts and every model below.

/** Globs tollgate translates. */
const ACCEPTED = [
  "", "*", "**", "***", "?", "??", "gpt-4o-mini", "claude-3-5-haiku*", "claude-3-5-haiku**", "mistral-small*", "llama3*",
  "a/*", "a/**", "*/b", "**/b", "a*b", "a*b*c", "*a*", "**a**", "a**b", "*-mini", "gpt-?o", "gpt-4?", "a/?/c",
  "[abc]", "[!abc]", "gpt-[34]*", "[a-z]*", "[!a-z]*", "[0-9]", "[A-Z]", "gpt-4[!/]*", "[/]", "[!/]",
  "{gpt,claude}-*", "{a,}", "{,a}", "{}", "{a,{b,c}d}", "{a*,b/**}", "x{a,b}y{c,d}", "{*,**}", "a{/,-}b", "{a,b}{,/*}",
  "\\*", "\\?", "a\\*b", "\\{a,b\\}", "\\[abc\\]", "\\a\\b", "a]b", "a}b", "a,b", "{a\\,b,c}", "{a\\}b,c}",
  "[\\]]", "[\\!a]", "[{}]", "[*?]", "[,]", "[.^]", "[^]", "[!!]", "[\\\\]",
  "a.b", "a+b", "a|b", "a^b", "a=b:c\"<>", "gpt 4", "Gpt-4o", "llama3.1:8b",
  "模型-*", "[é-ü]", "[!é-ü]", "?-😀", "😀*", "[😀]", "a?b", "*😀",
];

/** Globs tollgate leaves to the policy: the two implementations read them differently, or fail on them. */
const REJECTED = [
  "a(b)", "gpt-(4)", "a$", "\\(", "[a-z0-9]", "[a-]", "[abc-z]", "[-a]", "[]", "[]a]", "[!]", "{a,b", "{", "a\\", "[\\-a]",
  "[z-a]", "[abc", "[^-z]", "[!-~]", "x".repeat(MAX_PATTERN_LENGTH + 1), "a\u0000b", "a\tb", "a\nb", "\ud800",
];

const MODELS = [
  "", "/", "//", "a", "b", "c", "d", "ab", "abc", "ac", "aa", "a/b", "a/b/c", "a//b", "a/x/c", "a/xy/c", "b/b", "x/b",
  "gpt-4o-mini", "gpt-4o", "gpt-3o", "gpt-4o-mini/x", "gpt-4x", "gpt-4", "gpt-", "gpt-4/", "gpt", "claude", "claude-x", "gpt-claude",
  "claude-3-5-haiku", "claude-3-5-haiku-20241022", "claude-3-5-haiku/v1", "x-gpt-4o-mini", "GPT-4O-MINI", "mistral-small-latest",
  "llama3", "llama3.1:8b", "llama3/8b", "*", "?", "**", "a*b", "a?b", "[abc]", "{a,b}", "a,b", "a]b", "a}b", "]", "]a",
  "a.b", "a+b", "a|b", "a^b", "^", "!", ".", ",", "{", "}", "{}", "a=b:c\"<>", "gpt 4", "Gpt-4o", "\\", "a\\b", "ab\\",
  "xayc", "xbyd", "xayd/", "a-b", "a/-b", "a/c", "a/", "a/b/", "a-", "ab/c-mini", "-mini", "x-mini", "x/-mini",
  "模型-x", "模型-x/y", "模型", "é", "ü", "f", "z", "Z", "A", "0", "9", "ÿ", "😀", "a😀b", "x-😀", "😀-😀", "😀😀", "😀/",
  "a\r", "\t", " ",
];

const PROBE = `package envoy.authz

allow := [[i, j] |
\tsome i, p in input.patterns
\tsome j, m in input.models
\tglob.match(p, ["/"], m)
]
`;

const key = (i: number, j: number) => `${i},${j}`;
const matchSet = (pairs: [number, number][]) => new Set(pairs.map(([i, j]) => key(i, j)));

const input = { patterns: [...ACCEPTED, "**"], models: [...MODELS, "a\nb"] };
let goMatches = new Set<string>();
let wasmMatches = new Set<string>();
let workDir = "";

beforeAll(async () => {
  workDir = tempDir("tollgate-globs-");
  writeFileSync(path.join(workDir, "probe.rego"), PROBE.replace("package envoy.authz", "package parity"));
  writeFileSync(path.join(workDir, "input.json"), JSON.stringify(input));
  const r = runOpa(["eval", "--format", "json", "--data", "probe.rego", "--input", "input.json", "data.parity.allow"], workDir);
  if (r.status !== 0) throw new Error(`opa eval failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { result: { expressions: { value: [number, number][] }[] }[] };
  goMatches = matchSet(out.result[0]!.expressions[0]!.value);

  const dir = writePolicyDir({ "probe.rego": PROBE, "data.json": "{}" });
  const engine = new WasmPolicyEngine(await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false }), createHostBuiltins());
  wasmMatches = matchSet((engine.evaluate(input) as { result: [number, number][] }[])[0]!.result);
}, 120_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("model globs – tollgate's matcher agrees with OPA's glob.match", () => {
  it("translates the accepted globs and leaves the others to the policy", () => {
    for (const p of ACCEPTED) expect(compileGlob(p), JSON.stringify(p)).toBeDefined();
    for (const p of REJECTED) expect(compileGlob(p), JSON.stringify(p)).toBeUndefined();
  });

  it("answers as opa eval and as the Wasm policy for every accepted glob and model", () => {
    let matched = 0;
    const mismatches: string[] = [];
    ACCEPTED.forEach((p, i) => {
      const test = compileGlob(p)!;
      MODELS.forEach((m, j) => {
        const js = test(m);
        const go = goMatches.has(key(i, j));
        const wasm = wasmMatches.has(key(i, j));
        if (js !== go || js !== wasm) mismatches.push(`${JSON.stringify(p)} ~ ${JSON.stringify(m)}: tollgate ${js}, opa eval ${go}, wasm ${wasm}`);
        if (js) matched++;
      });
    });
    expect(mismatches).toEqual([]);
    expect(matched).toBeGreaterThan(200);
  });

  it("gives no answer for a model with a newline, where opa eval's ** matches and the Wasm policy's does not", () => {
    const i = input.patterns.length - 1;
    const j = input.models.length - 1;
    expect(goMatches.has(key(i, j))).toBe(true);
    expect(wasmMatches.has(key(i, j))).toBe(false);
    const engine = { data: { gateway: { roles: { r: { models: ["**"] } } } } } as unknown as PolicyEngine;
    expect(modelRoles(engine, "a\nb")).toBeUndefined();
    expect(modelRoles(engine, "ab")).toEqual(["r"]);
  });
});

describe("model_roles", () => {
  const data = {
    gateway: {
      roles: {
        zeta: { models: ["gpt-*"] },
        alpha: { models: ["claude*", "gpt-4o"] },
        empty: { models: [] },
        none: { operations: ["chat"] },
        odd: "not a role",
      },
    },
  };
  const engine = { data } as unknown as PolicyEngine;

  it("names the roles whose globs match, sorted", () => {
    expect(modelRoles(engine, "gpt-4o")).toEqual(["alpha", "zeta"]);
    expect(modelRoles(engine, "claude-3")).toEqual(["alpha"]);
    expect(modelRoles(engine, "gpt-4o/x")).toEqual([]);
    expect(modelRoles(engine, "mistral")).toEqual([]);
  });

  it("gives no answer for a model that is not a string or not well formed", () => {
    expect(modelRoles(engine, null)).toBeUndefined();
    expect(modelRoles(engine, 4)).toBeUndefined();
    expect(modelRoles(engine, "gpt-\ud800")).toBeUndefined();
  });

  it("compiles a revision once, keyed on its data object", () => {
    expect(compiledRoles(data)).toBe(compiledRoles(data));
    expect(compiledRoles({ ...data })).not.toBe(compiledRoles(data));
  });

  it("gives no answer for a revision with a glob or a role it does not translate", () => {
    const roles = (r: unknown) => ({ data: { gateway: { roles: r } } }) as unknown as PolicyEngine;
    expect(modelRoles(roles({ a: { models: ["gpt-*"] }, b: { models: ["gpt-(4)"] } }), "gpt-4")).toBeUndefined();
    expect(modelRoles(roles({ a: { models: "gpt-*" } }), "gpt-4")).toBeUndefined();
    expect(modelRoles(roles({ a: { models: { x: "gpt-*" } } }), "gpt-4")).toBeUndefined();
    expect(modelRoles(roles({ a: { models: [4] } }), "gpt-4")).toBeUndefined();
    expect(modelRoles(roles(undefined), "gpt-4")).toBeUndefined();
    expect(modelRoles({ data: {} } as unknown as PolicyEngine, "gpt-4")).toBeUndefined();
  });
});

describe("the shipped pack decides alike with and without model_roles", () => {
  it("for the bench's Check payloads and more models", async () => {
    const { dataPatch, payloads } = loadCheckPayloads(DEFAULT_LLM_PAYLOADS);
    const dir = preparePolicyDir({ policies: "policies", ...(dataPatch ? { dataPatch } : {}), tmpDir: tempDir("tollgate-globs-pack-") });
    const engine = new WasmPolicyEngine(await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false }), createHostBuiltins());
    const enrich = llmEnricher(SETTINGS_DEFAULTS.llm);
    let given = 0;
    let allowed = 0;
    for (const p of payloads) {
      for (const model of [undefined, "gpt-4o-mini", "claude-3-5-haiku-latest", "claude-3-5-haiku/x", "gpt-4o", "", "gpt-4o-mini\n"]) {
        const request = CheckRequest.fromJSON(p.request);
        const http = request.attributes?.request?.http;
        if (model !== undefined && http?.body) http.body = http.body.replace(/"model":\s*"[^"]*"/, `"model":${JSON.stringify(model)}`);
        const input = buildInput(request, { skipBodyParse: false, limits: SETTINGS_DEFAULTS.limits });
        enrich(input, engine);
        const llm = input["llm"] as Record<string, unknown> | undefined;
        const withRoles = JSON.stringify(engine.evaluate(input));
        if (llm && "model_roles" in llm) {
          given++;
          delete llm["model_roles"];
          const without = JSON.stringify(engine.evaluate(input));
          expect(withRoles, `${p.name}, model ${JSON.stringify(model)}`).toBe(without);
          if (withRoles.includes('"allowed":true')) allowed++;
        }
      }
    }
    expect(given).toBeGreaterThan(10);
    expect(allowed).toBeGreaterThan(3);
  }, 60_000);
});
