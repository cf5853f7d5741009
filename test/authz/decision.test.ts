import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { basicAuth, checkRequest, headerMap, startTestApp, type TestApp } from "../support/app.js";

// The basic-auth RBAC policy from OPA's Envoy tutorial, unchanged in substance.
const BASIC_AUTH_RBAC = `package envoy.authz

import input.attributes.request.http

default allow := false

allow if {
	is_token_valid
	action_allowed
}

is_token_valid if {
	[_, encoded] := split(http.headers.authorization, " ")
	[user, _] := split(base64url.decode(encoded), ":")
	user_roles[user]
}

user_name := user if {
	[_, encoded] := split(http.headers.authorization, " ")
	[user, _] := split(base64url.decode(encoded), ":")
}

user_roles := {"alice": ["guest"], "bob": ["admin"]}

action_allowed if {
	http.method == "GET"
	some role in user_roles[user_name]
	role == "guest"
}

action_allowed if {
	some role in user_roles[user_name]
	role == "admin"
}
`;

const OBJECT_DECISION = `package envoy.authz

default allow := {"allowed": false, "http_status": 402, "body": "pay first", "headers": {"x-reason": "payment"}}

allow := {
	"allowed": true,
	"headers": [{"x-user": "alice"}, {"x-multi": ["a", "b"]}],
	"request_headers_to_remove": ["x-drop"],
	"response_headers_to_add": {"set-cookie": ["a=1", "b=2"], "x-one": "1"},
	"query_parameters_to_set": {"added": "yes", "multi": ["1", "2"]},
	"query_parameters_to_remove": ["secret"],
	"dynamic_metadata": {"tier": "gold"},
} if input.parsed_path == ["ok"]
`;

describe("decisions", () => {
  let rbac: TestApp;
  let obj: TestApp;
  beforeAll(async () => {
    rbac = await startTestApp({ "rbac.rego": BASIC_AUTH_RBAC });
    obj = await startTestApp({ "obj.rego": OBJECT_DECISION });
  });
  afterAll(async () => {
    await rbac.close();
    await obj.close();
  });

  it.each([
    ["alice GET", "alice", "GET", 0],
    ["alice POST", "alice", "POST", 7],
    ["bob POST", "bob", "POST", 0],
    ["mallory GET", "mallory", "GET", 7],
  ])("basic-auth RBAC – %s", async (_n, user, method, code) => {
    const res = await rbac.check(checkRequest({ method, path: "/people", headers: { authorization: basicAuth(user, "password") } }));
    expect(res.status?.code).toBe(code);
  });

  it("boolean deny – 403 with an empty body and a decision_id", async () => {
    const res = await rbac.check(checkRequest({ path: "/" }));
    expect(res.deniedResponse?.status?.code).toBe(403);
    expect(res.deniedResponse?.body).toBe("");
    expect(res.dynamicMetadata?.["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("boolean allow – OK with a decision_id in dynamic_metadata", async () => {
    const res = await rbac.check(checkRequest({ headers: { authorization: basicAuth("bob", "x") } }));
    expect(res.okResponse).toBeDefined();
    expect(res.dynamicMetadata?.["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("object allow – upstream headers, removals, repeated response headers, query edits, metadata", async () => {
    const res = await obj.check(checkRequest({ path: "/ok" }));
    expect(res.status?.code).toBe(0);
    const ok = res.okResponse!;
    expect(headerMap(ok)).toEqual({ "x-user": ["alice"], "x-multi": ["a", "b"] });
    expect(ok.headersToRemove).toEqual(["x-drop"]);
    expect(headerMap({ headers: ok.responseHeadersToAdd })).toEqual({ "set-cookie": ["a=1", "b=2"], "x-one": ["1"] });
    expect(ok.queryParametersToSet.map((q) => [q.key, q.value]).sort()).toEqual([["added", "yes"], ["multi", "1"], ["multi", "2"]]);
    expect(ok.queryParametersToRemove).toEqual(["secret"]);
    expect(res.dynamicMetadata).toMatchObject({ tier: "gold" });
    expect(res.dynamicMetadata?.["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("object deny – custom status, body and client headers", async () => {
    const res = await obj.check(checkRequest({ path: "/nope" }));
    expect(res.status?.code).toBe(7);
    expect(res.deniedResponse?.status?.code).toBe(402);
    expect(res.deniedResponse?.body).toBe("pay first");
    expect(headerMap(res.deniedResponse)).toEqual({ "x-reason": ["payment"] });
    expect(res.dynamicMetadata?.["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("decision errors", () => {
  const cases: [string, string, RegExp][] = [
    ["number decision", "allow := 42", /illegal value/],
    ["undefined decision", "allow if false", /undefined/],
    ["allowed missing", 'allow := {"headers": {}}', /missing "allowed"/],
    ["allowed not a bool", 'allow := {"allowed": "yes"}', /allowed to be of type boolean/],
    ["headers wrong type", 'allow := {"allowed": true, "headers": "x"}', /headers to be an object/],
    ["header value wrong type", 'allow := {"allowed": true, "headers": {"x": 1}}', /invalid value type number for headers 'x'/],
    ["body wrong type", 'allow := {"allowed": false, "body": 1}', /body to be a string/],
    ["invalid http_status", 'allow := {"allowed": false, "http_status": 999}', /invalid HTTP status code 999/],
    ["http_status outside Envoy's enum", 'allow := {"allowed": false, "http_status": 418}', /invalid HTTP status code 418/],
    ["query removal not strings", 'allow := {"allowed": true, "query_parameters_to_remove": [1]}', /strings/],
    ["conflict", 'allow := true if input.parsed_path[0] != ""\nallow := false if input.parsed_path[0] != ""', /conflict|policy evaluation failed/],
  ];

  it.each(cases)("%s – answered with a gRPC error naming the problem", async (_n, rule, message) => {
    const t = await startTestApp({ "p.rego": `package envoy.authz\n\n${rule}\n` });
    try {
      await expect(t.check(checkRequest({ path: "/x" }))).rejects.toMatchObject({ code: expect.any(Number), details: expect.stringMatching(message) });
      const line = t.logs.events("decision").at(-1)!;
      expect(line["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await t.close();
    }
  });

  it("onDecisionError deny – answers a 403 denial instead of a gRPC error", async () => {
    const t = await startTestApp({ "p.rego": "package envoy.authz\n\nallow := 42\n" }, { onDecisionError: "deny" });
    try {
      const res = await t.check(checkRequest({}));
      expect(res.status?.code).toBe(7);
      expect(res.deniedResponse?.status?.code).toBe(403);
    } finally {
      await t.close();
    }
  });
});

describe("dry-run", () => {
  it("turns every deny into an allow and logs the would-be denial", async () => {
    const t = await startTestApp({ "p.rego": 'package envoy.authz\n\nallow := {"allowed": false, "http_status": 401, "body": "no"}\n' }, { dryRun: true });
    try {
      const res = await t.check(checkRequest({ path: "/secret" }));
      expect(res.status?.code).toBe(0);
      expect(res.okResponse?.headers).toEqual([]);
      const line = t.logs.events("decision").at(-1)!;
      expect(line).toMatchObject({ allowed: false, status: 401, dry_run: true, path: "/secret" });
    } finally {
      await t.close();
    }
  });
});
