/**
 * Writes the default bench payloads (CheckRequests in proto3 JSON, each with the HTTP status the
 * policy must answer; RateLimitRequests with the three descriptors envoy/envoy.yaml sends):
 *   bench/payloads/check-llm.json      the shipped LLM pack (policies/), plus a bench tenant as a data patch
 *   bench/payloads/check-starter.json  the starter RBAC policy (examples/starter), used for the opa-envoy-plugin pair
 *   bench/payloads/rls.json            ShouldRateLimit for ratelimit/config.yaml
 *
 *   npx tsx bench/make-payloads.ts [--starter examples/starter]
 *
 * Starter tokens are signed with the test-only key that <starter>/authz_test.rego declares as
 * `signing_key`, so they verify against data.starter.jwks. They expire in 2100.
 */
import { createHash, createPrivateKey, sign } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { TollgateError } from "../src/errors.js";
import type { CheckPayload, CheckPayloadFile, RlsPayload } from "./payloads.js";

const b64url = (s: string | Buffer): string => Buffer.from(s).toString("base64url");

function readSigningKey(policies: string): Record<string, string> {
  const file = path.join(policies, "authz_test.rego");
  const m = /signing_key := (\{[^}]*\})/.exec(readFileSync(file, "utf8"));
  if (!m?.[1]) throw new TollgateError("config_error", `${file} declares no signing_key := {...}`);
  return JSON.parse(m[1]) as Record<string, string>;
}

function jwt(jwk: Record<string, string>, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: "ES256", kid: jwk["kid"], typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const key = createPrivateKey({ key: jwk, format: "jwk" });
  const sig = sign("sha256", Buffer.from(`${head}.${body}`), { key, dsaEncoding: "ieee-p1363" });
  return `${head}.${body}.${b64url(sig)}`;
}

function checkRequest(opts: { method: string; path: string; headers: Record<string, string>; body?: string }): Record<string, unknown> {
  const headers = { ":method": opts.method, ":path": opts.path, ":authority": "api.openai.com", ":scheme": "https", "user-agent": "bench/1.0", "x-request-id": "8c6f3f0e-bench", ...opts.headers };
  return {
    attributes: {
      source: { address: { socketAddress: { address: "203.0.113.7", portValue: 51234 } } },
      destination: { address: { socketAddress: { address: "10.1.2.3", portValue: 8000 } } },
      request: {
        time: "2026-01-01T00:00:00Z",
        http: {
          id: "bench-1",
          method: opts.method,
          headers,
          path: opts.path,
          host: "api.openai.com",
          scheme: "https",
          protocol: "HTTP/1.1",
          ...(opts.body !== undefined ? { body: opts.body, size: String(Buffer.byteLength(opts.body)) } : {}),
        },
      },
    },
  };
}

const chatBody = (model: string, user: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model,
    messages: [
      { role: "system", content: "You are a concise assistant for an internal engineering team." },
      { role: "user", content: user },
    ],
    ...extra,
  });

/** The starter RBAC policy (examples/starter): JWT roles. Both tollgate and opa-envoy-plugin can evaluate it. */
function starterPayloads(policies: string): CheckPayload[] {
  const key = readSigningKey(policies);
  const claims = (roles: string[]) => ({ iss: "https://auth.example.com", aud: "tollgate", sub: "alice", roles, exp: 4102444800 });
  const bearer = (roles: string[]) => ({ authorization: `Bearer ${jwt(key, claims(roles))}` });
  const chat = chatBody("gpt-4o-mini", "Summarise the trade-offs between fixed and sliding rate-limit windows in three bullet points.", { max_tokens: 256 });
  return [
    { name: "reader lists models", expectStatus: 200, request: checkRequest({ method: "GET", path: "/v1/models", headers: bearer(["reader"]) }) },
    {
      name: "writer posts a chat completion",
      expectStatus: 200,
      request: checkRequest({ method: "POST", path: "/v1/chat/completions", headers: { ...bearer(["writer"]), "content-type": "application/json" }, body: chat }),
    },
    { name: "writer is denied the admin route", expectStatus: 403, request: checkRequest({ method: "GET", path: "/admin/users", headers: bearer(["writer"]) }) },
    { name: "no token is denied", expectStatus: 403, request: checkRequest({ method: "GET", path: "/v1/models", headers: {} }) },
    { name: "health probe needs no token", expectStatus: 200, request: checkRequest({ method: "GET", path: "/healthz", headers: {} }) },
  ];
}

const BENCH_CLIENT_KEY = "tg-bench-client-key";

/** The LLM gateway pack (policies/): a bench tenant with limits high enough that Redis is hit but never denies. */
function llmPayloads(): CheckPayloadFile {
  const json = { "content-type": "application/json" };
  const bearer = { authorization: `Bearer ${BENCH_CLIENT_KEY}`, ...json };
  const post = (p: string, headers: Record<string, string>, body: string) => checkRequest({ method: "POST", path: p, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, body });
  const anthropic = JSON.stringify({ model: "claude-3-5-haiku-20241022", max_tokens: 256, system: "Be brief.", messages: [{ role: "user", content: [{ type: "text", text: "Name three uses of a token bucket." }] }] });
  return {
    dataPatch: {
      gateway: {
        roles: { bench: { models: ["gpt-4o-mini", "claude-3-5-haiku*"], operations: ["chat", "completion", "responses", "embedding"], max_output_tokens: 1024, stream: true } },
        tenants: {
          bench: {
            role: "bench",
            api_key_sha256: [createHash("sha256").update(BENCH_CLIENT_KEY).digest("hex")],
            // 4294967295 is the largest limit tollgate accepts; a few hundred tokens per request leaves millions of requests.
            limits: { requests_per_minute: 4_294_967_295, tokens_per_minute: 4_294_967_295, tokens_per_day: 4_294_967_295 },
          },
        },
      },
    },
    payloads: [
      { name: "OpenAI chat, key as bearer", expectStatus: 200, request: post("/v1/chat/completions", bearer, chatBody("gpt-4o-mini", "Summarise the trade-offs between fixed and sliding rate-limit windows in three bullet points.", { max_tokens: 256 })) },
      { name: "Anthropic messages, key in x-api-key", expectStatus: 200, request: post("/v1/messages", { "x-api-key": BENCH_CLIENT_KEY, ...json }, anthropic) },
      { name: "OpenAI chat, longer prompt", expectStatus: 200, request: post("/v1/chat/completions", bearer, chatBody("gpt-4o-mini", "Review this function for off-by-one errors. ".repeat(20), { max_tokens: 512 })) },
      { name: "model not allowed", expectStatus: 403, request: post("/v1/chat/completions", bearer, chatBody("gpt-4o", "Hi")) },
      { name: "prompt guard hit", expectStatus: 403, request: post("/v1/chat/completions", bearer, chatBody("gpt-4o-mini", "deploy with AKIAIOSFODNN7EXAMPLE please")) },
      { name: "unknown key", expectStatus: 401, request: post("/v1/chat/completions", { authorization: "Bearer tg-not-a-key", ...json }, chatBody("gpt-4o-mini", "Hi")) },
      { name: "health probe", expectStatus: 200, request: checkRequest({ method: "GET", path: "/healthz", headers: {} }) },
    ],
  };
}

function rlsPayloads(): RlsPayload[] {
  const rlsRequest = (tenant: string, upstream: string, ip: string) => ({
    domain: "tollgate",
    descriptors: [
      { entries: [{ key: "tenant", value: tenant }] },
      { entries: [{ key: "tenant", value: tenant }, { key: "upstream", value: upstream }] },
      { entries: [{ key: "generic_key", value: "per_client_ip" }, { key: "remote_address", value: ip }] },
    ],
    hitsAddend: 1,
  });
  return [
    { name: "acme to openai", request: rlsRequest("acme", "openai", "203.0.113.7") },
    { name: "globex to anthropic", request: rlsRequest("globex", "anthropic", "203.0.113.8") },
    { name: "initech to mistral", request: rlsRequest("initech", "mistral", "198.51.100.20") },
    { name: "internal-batch to openai", request: rlsRequest("internal-batch", "openai", "198.51.100.21") },
  ];
}

function main(): void {
  const { values } = parseArgs({ options: { starter: { type: "string", default: "examples/starter" } } });
  const dir = path.join(import.meta.dirname, "payloads");
  mkdirSync(dir, { recursive: true });
  const write = (name: string, value: unknown) => writeFileSync(path.join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
  write("check-starter.json", starterPayloads(values.starter));
  write("check-llm.json", llmPayloads());
  write("rls.json", rlsPayloads());
  process.stdout.write(`wrote check-starter.json, check-llm.json and rls.json to ${dir}\n`);
}

main();
