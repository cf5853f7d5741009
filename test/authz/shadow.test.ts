import { describe, expect, it } from "vitest";
import { readDecision, type Decision } from "../../src/authz/decision.js";
import { registerSecret } from "../../src/observability/mask.js";
import { buildPolicies } from "../../src/policy/build.js";
import { diffDecisions, ShadowStats, type ShadowDiffKind } from "../../src/authz/shadow.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { writePolicyDir } from "../support/app.js";

const d = (result: unknown): Decision => readDecision([{ result }]);
const limit = (key: string, extra: Record<string, unknown> = {}) => ({ key, limit: 100, window: 60, ...extra });

describe("diffDecisions – one kind at a time", () => {
  it.each<[string, unknown, unknown, ShadowDiffKind[] | undefined]>([
    ["identical allows", { allowed: true, headers: { "x-u": "a" } }, { allowed: true, headers: { "x-u": "a" } }, undefined],
    ["boolean false and default denial object", false, { allowed: false }, undefined],
    ["header names compare case-insensitively", { allowed: true, headers: { "X-U": "a" } }, { allowed: true, headers: { "x-u": "a" } }, undefined],
    ["allow → deny", true, false, ["allow_to_deny"]],
    ["deny → allow", { allowed: false, http_status: 401 }, { allowed: true, headers: { "x-new": "1" } }, ["deny_to_allow"]],
    ["denial status 403 → 401", { allowed: false }, { allowed: false, http_status: 401 }, ["status_changed"]],
    ["denial body changed", { allowed: false, body: "no" }, { allowed: false, body: "nope" }, ["body_changed"]],
    ["denial message changed", { allowed: false, message: "quota used" }, { allowed: false, message: "slow down" }, ["body_changed"]],
    ["message moved into body", { allowed: false, message: "no" }, { allowed: false, body: "no" }, ["body_changed"]],
    ["http_status of an allow is not a difference", { allowed: true, http_status: 403 }, { allowed: true, http_status: 500 }, undefined],
    ["limits of a denial are not a difference", { allowed: false, limits: [limit("k")] }, { allowed: false }, undefined],
    ["upstream header added", { allowed: true }, { allowed: true, headers: { "x-plan": "pro" } }, ["headers_added"]],
    ["upstream header removed", { allowed: true, headers: { "x-plan": "pro" } }, { allowed: true }, ["headers_removed"]],
    ["header value changed", { allowed: true, headers: { "x-plan": "pro" } }, { allowed: true, headers: { "x-plan": "free" } }, ["headers_changed"]],
    ["response header added", { allowed: true }, { allowed: true, response_headers_to_add: { "x-rl": "1" } }, ["headers_added"]],
    ["request header removal dropped", { allowed: true, request_headers_to_remove: ["cookie"] }, { allowed: true }, ["headers_removed"]],
    ["denial header added", { allowed: false }, { allowed: false, headers: { "www-authenticate": "Bearer" } }, ["headers_added"]],
    ["limit added", { allowed: true }, { allowed: true, limits: [limit("user:a")] }, ["limits_changed"]],
    ["limit removed", { allowed: true, limits: [limit("user:a")] }, { allowed: true }, ["limits_changed"]],
    ["limit raised", { allowed: true, limits: [limit("user:a")] }, { allowed: true, limits: [limit("user:a", { limit: 1000 })] }, ["limits_changed"]],
    ["same limit, window given as unit", { allowed: true, limits: [limit("user:a")] }, { allowed: true, limits: [{ key: "user:a", limit: 100, unit: "minute" }] }, undefined],
    [
      "several kinds at once",
      { allowed: true, headers: { a: "1", b: "1" }, limits: [limit("k")] },
      { allowed: true, headers: { b: "2", c: "1" }, limits: [limit("k", { cost: 2 })] },
      ["headers_added", "headers_removed", "headers_changed", "limits_changed"],
    ],
    ["status and body both changed", { allowed: false, body: "a" }, { allowed: false, http_status: 429, body: "b" }, ["status_changed", "body_changed"]],
  ])("%s", (_title, active, candidate, kinds) => {
    expect(diffDecisions(d(active), d(candidate))?.kinds).toEqual(kinds);
  });
});

describe("diffDecisions – structure", () => {
  it("a flip carries allowed and the status the client would see, and nothing else", () => {
    expect(diffDecisions(d({ allowed: true, headers: { a: "1" } }), d({ allowed: false, http_status: 429, body: "x" }))).toEqual({
      kinds: ["allow_to_deny"],
      allowed: { active: true, candidate: false },
      status: { active: 200, candidate: 429 },
    });
  });

  it("headers are listed by group and lower-cased name, sorted", () => {
    const diff = diffDecisions(
      d({ allowed: true, headers: { "X-B": "1", "x-gone": "1" }, request_headers_to_remove: ["cookie"], upstream_secrets: { authorization: "${env:A}" } }),
      d({ allowed: true, headers: { "x-b": "2", "X-A": "1" }, response_headers_to_add: { "x-r": "1" }, upstream_secrets: { authorization: "${env:B}", "x-api-key": "${env:C}" } }),
    );
    expect(diff?.headers).toEqual({
      added: [
        { group: "headers", name: "x-a" },
        { group: "response_headers_to_add", name: "x-r" },
        { group: "upstream_secrets", name: "x-api-key" },
      ],
      removed: [
        { group: "headers", name: "x-gone" },
        { group: "request_headers_to_remove", name: "cookie" },
      ],
      changed: [
        { group: "headers", name: "x-b" },
        { group: "upstream_secrets", name: "authorization" },
      ],
    });
  });

  it("limits are matched by key and list the fields that changed", () => {
    const diff = diffDecisions(
      d({ allowed: true, limits: [limit("u:1"), limit("u:2", { name: "old" })] }),
      d({ allowed: true, limits: [limit("u:2", { name: "new", limit: 5, algorithm: "token_bucket" }), limit("u:3", { shadow: true })] }),
    );
    expect(diff?.limits).toEqual({
      added: [{ name: "u:3", limit_key: "u:3", limit: 100, window_seconds: 60, cost: 1, algorithm: "fixed_window", failure_mode: "allow", shadow: true }],
      removed: [{ name: "u:1", limit_key: "u:1", limit: 100, window_seconds: 60, cost: 1, algorithm: "fixed_window", failure_mode: "allow", shadow: false }],
      changed: [
        {
          limit_key: "u:2",
          fields: ["name", "limit", "algorithm"],
          active: { name: "old", limit_key: "u:2", limit: 100, window_seconds: 60, cost: 1, algorithm: "fixed_window", failure_mode: "allow", shadow: false },
          candidate: { name: "new", limit_key: "u:2", limit: 5, window_seconds: 60, cost: 1, algorithm: "token_bucket", failure_mode: "allow", shadow: false },
        },
      ],
    });
  });

  it("a body or message change gives sizes only", () => {
    expect(diffDecisions(d({ allowed: false, body: "secret-ish text" }), d({ allowed: false }))?.body).toEqual({ active_bytes: 15, candidate_bytes: 0 });
    expect(diffDecisions(d({ allowed: false, message: "abc" }), d({ allowed: false, message: "abcdef" }))?.body).toEqual({ active_bytes: 3, candidate_bytes: 6 });
  });

  it("secrets never appear: header values are left out, and secret values in limit keys are masked", () => {
    registerSecret("sk-live-shadow-0001");
    const diff = diffDecisions(
      d({ allowed: true, headers: { authorization: "Bearer sk-live-shadow-0001" }, limits: [limit("key:sk-live-shadow-0001")] }),
      d({ allowed: true, headers: { authorization: "Bearer tok-other-99999", "x-api-key": "sk-live-shadow-0001" }, limits: [limit("key:sk-live-shadow-0001", { limit: 1 })] }),
    );
    const text = JSON.stringify(diff);
    expect(text).not.toContain("sk-live-shadow-0001");
    expect(text).not.toContain("tok-other-99999");
    expect(diff?.kinds).toEqual(["headers_added", "headers_changed", "limits_changed"]);
    expect(diff?.limits?.changed[0]?.limit_key).toBe("key:[REDACTED]");
  });

  it("does not modify its arguments", () => {
    const a = d({ allowed: true, headers: { b: "1", a: "1" }, limits: [limit("z"), limit("a")] });
    const c = d({ allowed: true, headers: { c: "1" } });
    const before = JSON.stringify([a, c]);
    diffDecisions(a, c);
    expect(JSON.stringify([a, c])).toBe(before);
  });
});

describe("ShadowStats", () => {
  it("counts comparisons, agreements, kinds and errors, and resets", () => {
    const seen: string[] = [];
    const stats = new ShadowStats({ onKind: (k) => seen.push(k) });
    stats.record(undefined);
    stats.record(diffDecisions(d(true), d(false)));
    stats.record(diffDecisions(d({ allowed: true, headers: { a: "1" } }), d({ allowed: true, headers: { b: "1" } })));
    stats.recordError();
    expect(stats.snapshot()).toEqual({
      compared: 3,
      agreed: 1,
      disagreed: 2,
      errors: 1,
      kinds: { allow_to_deny: 1, deny_to_allow: 0, status_changed: 0, body_changed: 0, headers_added: 1, headers_removed: 1, headers_changed: 0, limits_changed: 0 },
    });
    expect(seen).toEqual(["allow_to_deny", "headers_added", "headers_removed"]);
    stats.reset();
    expect(stats.snapshot().compared).toBe(0);
    expect(stats.snapshot().kinds.allow_to_deny).toBe(0);
  });
});

const ACTIVE = `package envoy.authz

default allow := {"allowed": false, "http_status": 403, "body": "denied"}

allow := {"allowed": true, "headers": {"x-user": input.user}, "limits": limits} if input.user != ""

limits := [{"key": sprintf("user:%s", [input.user]), "limit": quota, "window": 60}]

default quota := 100

quota := 1000 if input.plan == "pro"
`;

// Blocks /admin for non-admins, lets anonymous callers read /public, answers 401 instead of 403,
// gives pro users 5000, tells upstream the team plan, and stops naming bots.
const CANDIDATE = `package envoy.authz

default allow := {"allowed": false, "http_status": 401, "body": "denied"}

allow := {"allowed": true, "headers": headers, "limits": limits} if {
	input.user != ""
	not admin_blocked
}

allow := {"allowed": false, "http_status": 403, "body": "admins only"} if admin_blocked

allow := {"allowed": true, "headers": {"x-user": "anonymous"}} if {
	input.user == ""
	input.path == "/public"
}

admin_blocked if {
	input.user != ""
	startswith(input.path, "/admin")
	input.role != "admin"
}

headers := {} if input.role == "bot"

headers := {"x-user": input.user, "x-plan": input.plan} if {
	input.role != "bot"
	input.plan == "team"
}

headers := {"x-user": input.user} if {
	input.role != "bot"
	input.plan != "team"
}

limits := [{"key": sprintf("user:%s", [input.user]), "limit": quota, "window": 60}]

default quota := 100

quota := 5000 if input.plan == "pro"
`;

describe("shadow evaluation on a known traffic mix (real policies compiled to WASM)", () => {
  it("counts every disagreement exactly", async () => {
    const engine = async (rego: string) => {
      const built = await buildPolicies({ dir: writePolicyDir({ "p.rego": rego }), entrypoint: "envoy/authz/allow", runTests: false });
      return new WasmPolicyEngine(built, createHostBuiltins());
    };
    const [active, candidate] = await Promise.all([engine(ACTIVE), engine(CANDIDATE)]);
    const mix: [count: number, input: { user: string; role: string; path: string; plan: string }][] = [
      [10, { user: "alice", role: "user", path: "/chat", plan: "free" }], // agree
      [3, { user: "bob", role: "user", path: "/admin/keys", plan: "free" }], // allow_to_deny
      [2, { user: "root", role: "admin", path: "/admin/keys", plan: "free" }], // agree
      [4, { user: "", role: "", path: "/public", plan: "" }], // deny_to_allow
      [5, { user: "", role: "", path: "/chat", plan: "" }], // status_changed
      [6, { user: "carol", role: "user", path: "/chat", plan: "pro" }], // limits_changed
      [7, { user: "dave", role: "user", path: "/chat", plan: "team" }], // headers_added
      [8, { user: "crawler", role: "bot", path: "/chat", plan: "free" }], // headers_removed
      [1, { user: "erin", role: "bot", path: "/chat", plan: "pro" }], // headers_removed + limits_changed
    ];
    let callbacks = 0;
    const stats = new ShadowStats({ onKind: () => callbacks++ });
    for (const [count, input] of mix) {
      for (let i = 0; i < count; i++) stats.record(diffDecisions(readDecision(active.evaluate(input)), readDecision(candidate.evaluate(input))));
    }
    expect(stats.snapshot()).toEqual({
      compared: 46,
      agreed: 12,
      disagreed: 34,
      errors: 0,
      kinds: { allow_to_deny: 3, deny_to_allow: 4, status_changed: 5, body_changed: 0, headers_added: 7, headers_removed: 9, headers_changed: 0, limits_changed: 7 },
    });
    expect(callbacks).toBe(35);

    const erin = { user: "erin", role: "bot", path: "/chat", plan: "pro" };
    expect(diffDecisions(readDecision(active.evaluate(erin)), readDecision(candidate.evaluate(erin)))).toEqual({
      kinds: ["headers_removed", "limits_changed"],
      allowed: { active: true, candidate: true },
      status: { active: 200, candidate: 200 },
      headers: { added: [], removed: [{ group: "headers", name: "x-user" }], changed: [] },
      limits: {
        added: [],
        removed: [],
        changed: [
          {
            limit_key: "user:erin",
            fields: ["limit"],
            active: { name: "user:erin", limit_key: "user:erin", limit: 1000, window_seconds: 60, cost: 1, algorithm: "fixed_window", failure_mode: "allow", shadow: false },
            candidate: { name: "user:erin", limit_key: "user:erin", limit: 5000, window_seconds: 60, cost: 1, algorithm: "fixed_window", failure_mode: "allow", shadow: false },
          },
        ],
      },
    });
  });
});
