import { createHmac, generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

function hs256(payload: Record<string, unknown>, secret: string): string {
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(payload)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

// OPA's Envoy tutorial policy (JWT RBAC with io.jwt.decode_verify), as a user would paste it.
const TUTORIAL = `package envoy.authz

import input.attributes.request.http

default allow := false

allow if {
	is_token_valid
	action_allowed
}

is_token_valid if {
	token.valid
	now := time.now_ns() / 1000000000
	token.payload.nbf <= now
	now < token.payload.exp
}

action_allowed if {
	http.method == "GET"
	token.payload.role == "guest"
	glob.match("/people", ["/"], http.path)
}

action_allowed if {
	http.method == "GET"
	token.payload.role == "admin"
	glob.match("/people/*", ["/"], http.path)
}

action_allowed if {
	http.method == "POST"
	token.payload.role == "admin"
	glob.match("/people", ["/"], http.path)
	lower(input.parsed_body.firstname) == base64url.decode(token.payload.sub)
}

token := {"valid": valid, "payload": payload} if {
	[_, encoded] := split(http.headers.authorization, " ")
	[valid, _, payload] := io.jwt.decode_verify(encoded, {"secret": "secret"})
}
`;

describe("OPA Envoy tutorial – JWT RBAC with io.jwt.decode_verify", () => {
  let t: TestApp;
  const now = Math.floor(Date.now() / 1000);
  const claims = (role: string, extra: Record<string, unknown> = {}) => ({ role, sub: Buffer.from("alice").toString("base64url"), nbf: now - 60, exp: now + 3600, ...extra });
  beforeAll(async () => {
    t = await startTestApp({ "policy.rego": TUTORIAL });
  });
  afterAll(() => t.close());

  it.each([
    ["guest lists people", claims("guest"), "secret", "GET", "/people", undefined, 0],
    ["guest cannot read one person", claims("guest"), "secret", "GET", "/people/bob", undefined, 7],
    ["admin reads one person", claims("admin"), "secret", "GET", "/people/bob", undefined, 0],
    ["admin creates the person named in sub", claims("admin"), "secret", "POST", "/people", '{"firstname":"Alice"}', 0],
    ["admin cannot create someone else", claims("admin"), "secret", "POST", "/people", '{"firstname":"Bob"}', 7],
    ["wrong signing secret", claims("admin"), "not-the-secret", "GET", "/people/bob", undefined, 7],
    ["expired token", claims("admin", { exp: now - 10 }), "secret", "GET", "/people/bob", undefined, 7],
    ["not yet valid", claims("admin", { nbf: now + 600 }), "secret", "GET", "/people/bob", undefined, 7],
  ])("%s", async (_n, payload, secret, method, path, body, code) => {
    const headers: Record<string, string> = { authorization: `Bearer ${hs256(payload, secret)}` };
    if (body) headers["content-type"] = "application/json";
    const res = await t.check(checkRequest({ method, path, headers, ...(body ? { body } : {}) }));
    expect(res.status?.code).toBe(code);
  });
});

describe("starter example policy (ES256 JWKS RBAC)", () => {
  let t: TestApp;
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "test", alg: "ES256", use: "sig" };

  function es256(payload: Record<string, unknown>): string {
    const head = `${b64({ alg: "ES256", kid: "test" })}.${b64(payload)}`;
    const sig = cryptoSign("sha256", Buffer.from(head), { key: privateKey, dsaEncoding: "ieee-p1363" });
    return `${head}.${sig.toString("base64url")}`;
  }

  beforeAll(async () => {
    const data = JSON.parse(readFileSync("examples/starter/data.json", "utf8")) as { starter: Record<string, unknown> };
    data.starter["jwks"] = JSON.stringify({ keys: [jwk] });
    t = await startTestApp({ "authz.rego": readFileSync("examples/starter/authz.rego", "utf8"), "data.json": JSON.stringify(data) });
  });
  afterAll(() => t.close());

  const token = (roles: string[], extra: Record<string, unknown> = {}) =>
    es256({ iss: "https://auth.example.com", aud: "tollgate", sub: "alice", roles, exp: Math.floor(Date.now() / 1000) + 600, ...extra });

  it.each([
    ["health probe without a token", "GET", "/healthz", undefined, 0],
    ["no token", "GET", "/v1/models", undefined, 7],
    ["reader lists models", "GET", "/v1/models", token(["reader"]), 0],
    ["reader cannot post", "POST", "/v1/chat/completions", token(["reader"]), 7],
    ["writer posts", "POST", "/v1/chat/completions", token(["writer"]), 0],
    ["writer cannot reach admin through //", "GET", "//admin/users", token(["writer"]), 7],
    ["admin reaches admin", "GET", "/admin/users", token(["admin"]), 0],
    ["wrong audience", "GET", "/v1/models", token(["admin"], { aud: "someone-else" }), 7],
  ])("%s", async (_n, method, path, tok, code) => {
    const res = await t.check(checkRequest({ method, path, headers: tok ? { authorization: `Bearer ${tok}` } : {} }));
    expect(res.status?.code).toBe(code);
  });
});
