import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { guardHits } from "../../src/llm/guard.js";
import { buildPolicies } from "../../src/policy/build.js";
import { WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { writePolicyDir } from "../support/app.js";

// The shipped guard patterns, run through tollgate's RE2JS matcher and through OPA's own
// regex.match inside the compiled policy, must name the same patterns for every text.
const TEXTS = [
  "-----BEGIN RSA PRIVATE KEY-----\nMIIB",
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "id AKIAIOSFODNN7EXAMPLE here",
  "akiaiosfodnn7example (lower case is not a key)",
  "key=AIzaSyA1234567890abcdefghijklmnopqrstuv",
  "use sk-proj-abcdefghijklmnopqrstuvwxyz123456",
  "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
  "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB",
  "xoxb-1234567890-abcdef",
  "Authorization: BEARER eyJhbGciOiJIUzI1NiJ9.payload.sig",
  "bearer short",
  "Please summarise the quarterly report about skiing.",
  "日本語のテキスト sk-1234567890abcdefghijKLMN",
  "",
];

describe("prompt guard – tollgate's matcher agrees with OPA's regex.match", () => {
  it("names the same patterns for every sample text", async () => {
    const data = JSON.parse(readFileSync("policies/data.json", "utf8")) as Record<string, unknown>;
    const dir = writePolicyDir({
      "guard.rego": readFileSync("policies/tollgate/guard.rego", "utf8"),
      "probe.rego": "package envoy.authz\n\nimport data.tollgate.guard\n\nallow := sort(guard.hits)\n",
      "data.json": JSON.stringify(data),
    });
    const engine = new WasmPolicyEngine(await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false }), createHostBuiltins());
    let matched = 0;
    for (const text of TEXTS) {
      const opa = (engine.evaluate({ llm: { texts: [text] } }) as { result: string[] }[])[0]!.result;
      const native = guardHits(engine, [text]);
      expect(native, text).toEqual(opa);
      matched += opa.length;
    }
    expect(matched).toBeGreaterThan(8);
  });

  it("a pattern RE2 cannot compile leaves the decision to the policy's regex.match", async () => {
    const dir = writePolicyDir({
      "p.rego": "package envoy.authz\n\nallow := true\n",
      "data.json": JSON.stringify({ gateway: { guard: { patterns: [{ name: "backref", pattern: "(a)\\1" }], extra_patterns: [] } } }),
    });
    const engine = new WasmPolicyEngine(await buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false }), createHostBuiltins());
    expect(guardHits(engine, ["aa"])).toBeUndefined();
  });
});
