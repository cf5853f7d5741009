import { createHash, randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { checkRequest, headerMap, startTestApp, type TestApp } from "../support/app.js";

// Provider secrets the gateway injects; clients never see them and logs must never show them.
const SECRETS = {
  OPENAI_API_KEY: `sk-test-openai-${randomBytes(8).toString("hex")}`,
  ANTHROPIC_API_KEY: `sk-ant-test-${randomBytes(8).toString("hex")}`,
  GEMINI_API_KEY: `AIzaTest${randomBytes(8).toString("hex")}`,
  MISTRAL_API_KEY: `mistral-test-${randomBytes(8).toString("hex")}`,
  AZURE_OPENAI_API_KEY: `azure-test-${randomBytes(8).toString("hex")}`,
};
const run = randomBytes(4).toString("hex");
const KEY = `tg-test-${run}-client-key`;
const NOSTREAM_KEY = `tg-test-${run}-nostream`;
const BUDGET_KEY = `tg-test-${run}-budget`;
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** The shipped policies, with test tenants added to the shipped data (the demo tenant stays). */
function policiesWithTestTenants(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-llm-"));
  cpSync("policies", dir, { recursive: true });
  const data = JSON.parse(readFileSync(path.join(dir, "data.json"), "utf8")) as { gateway: { tenants: Record<string, unknown>; roles: Record<string, unknown> } };
  const everything = { models: ["gpt-4o-mini", "claude-3-5-haiku*", "gemini-1.5-flash", "mistral-small*", "llama3*", "text-embedding-3-small"], operations: ["chat", "completion", "responses", "embedding"], max_output_tokens: 1024, stream: true };
  data.gateway.roles["tester"] = everything;
  data.gateway.roles["nostream"] = { ...everything, stream: false };
  data.gateway.tenants[`t${run}`] = { role: "tester", api_key_sha256: [sha(KEY)], limits: { requests_per_minute: 1000, tokens_per_minute: 10_000_000 } };
  data.gateway.tenants[`n${run}`] = { role: "nostream", api_key_sha256: [sha(NOSTREAM_KEY)] };
  data.gateway.tenants[`b${run}`] = { role: "tester", api_key_sha256: [sha(BUDGET_KEY)], limits: { tokens_per_minute: 3000 } };
  writeFileSync(path.join(dir, "data.json"), JSON.stringify(data));
  return dir;
}

const json = { "content-type": "application/json" };
const openaiChat = (model: string, extra: Record<string, unknown> = {}) => JSON.stringify({ model, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say hello in French." }], ...extra });

function post(p: string, body: string, headers: Record<string, string>, authority = "localhost:10000") {
  return checkRequest({ method: "POST", path: p, body, headers: { ...json, "content-length": String(Buffer.byteLength(body)), ":authority": authority, "x-request-id": randomBytes(8).toString("hex"), ...headers } });
}

const upstream = (res: CheckResponse) => headerMap(res.okResponse);
const errorJson = (res: CheckResponse) => JSON.parse(res.deniedResponse!.body) as Record<string, unknown>;

describe("LLM gateway policy pack (shipped policies/ through a real gRPC Check)", () => {
  let t: TestApp;
  let redis: Redis;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    for (const [k, v] of Object.entries(SECRETS)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    t = await startTestApp(policiesWithTestTenants(), { redisUrl: "redis://127.0.0.1:6379", logDecisionInput: true });
  });
  afterAll(async () => {
    await t.close();
    redis.disconnect();
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });

  it("allowed model – OK, routed to the provider, provider key injected, client key gone", async () => {
    const res = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o-mini"), { authorization: `Bearer ${KEY}` }));
    expect(res.status?.code).toBe(0);
    const h = upstream(res);
    expect(h["authorization"]).toEqual([`Bearer ${SECRETS.OPENAI_API_KEY}`]);
    expect(h["x-tollgate-tenant"]).toEqual([`t${run}`]);
    expect(h["x-tollgate-upstream"]).toEqual(["openai"]);
    expect(res.dynamicMetadata).toMatchObject({ tenant: `t${run}`, model: "gpt-4o-mini", reason: "allowed" });
    expect((res.dynamicMetadata?.["limits"] as Record<string, { remaining: number }>)["requests_per_minute"]!.remaining).toBeLessThan(1000);
  });

  it("client key in x-api-key on an OpenAI path – header removed, Authorization injected", async () => {
    const res = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o-mini"), { "x-api-key": KEY }));
    expect(res.okResponse?.headersToRemove).toEqual(["x-api-key"]);
    expect(upstream(res)["authorization"]).toEqual([`Bearer ${SECRETS.OPENAI_API_KEY}`]);
  });

  it.each([
    ["missing key", {}, 401, "invalid_api_key"],
    ["unknown key", { authorization: "Bearer tg-not-a-key" }, 401, "invalid_api_key"],
  ])("%s – 401 in OpenAI's error JSON", async (_n, headers, status, code) => {
    const res = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o-mini"), headers));
    expect(res.deniedResponse?.status?.code).toBe(status);
    expect(headerMap(res.deniedResponse)["content-type"]).toEqual(["application/json"]);
    expect(errorJson(res)).toMatchObject({ error: { code, message: expect.stringMatching(/API key/) } });
  });

  it("disallowed model – 403 naming the model", async () => {
    const res = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o"), { authorization: `Bearer ${KEY}` }));
    expect(res.deniedResponse?.status?.code).toBe(403);
    expect(errorJson(res)).toMatchObject({ error: { message: "model gpt-4o is not allowed for this key" } });
  });

  it("cap exceeded – 400", async () => {
    const res = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o-mini", { max_completion_tokens: 5000 }), { authorization: `Bearer ${KEY}` }));
    expect(res.deniedResponse?.status?.code).toBe(400);
    expect(errorJson(res)).toMatchObject({ error: { message: "max output tokens 5000 exceed this key's cap of 1024" } });
  });

  it("stream not allowed – 403", async () => {
    const res = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o-mini", { stream: true }), { authorization: `Bearer ${NOSTREAM_KEY}` }));
    expect(res.deniedResponse?.status?.code).toBe(403);
    expect(res.dynamicMetadata?.["reason"]).toBe("stream_not_allowed");
  });

  it("prompt guard hit – 403, pattern named, matched text in no log line", async () => {
    const leaked = "AKIAZZZZZZZZZZZZZZZZ";
    const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: `deploy with ${leaked} please` }] });
    const res = await t.check(post("/v1/chat/completions", body, { authorization: `Bearer ${KEY}` }));
    expect(res.deniedResponse?.status?.code).toBe(403);
    expect(res.dynamicMetadata).toMatchObject({ reason: "prompt_guard", guard_patterns: ["aws_access_key"] });
    expect(res.deniedResponse!.body).not.toContain(leaked);
    const decision = t.logs.events("decision").at(-1)!;
    expect(decision["reason"]).toBe("prompt_guard");
  });

  it("token budget – 429 with Retry-After after N calls, counted in real Redis", async () => {
    const statuses: number[] = [];
    let last: CheckResponse | undefined;
    for (let i = 0; i < 4; i++) {
      last = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o-mini"), { authorization: `Bearer ${BUDGET_KEY}` }));
      statuses.push(last.status?.code === 0 ? 200 : last.deniedResponse!.status!.code);
    }
    // Each call reserves its input estimate + the role's cap of 1024 against 3,000 per minute.
    expect(statuses).toEqual([200, 200, 429, 429]);
    const h = headerMap(last!.deniedResponse);
    expect(Number(h["retry-after"]![0])).toBeGreaterThanOrEqual(1);
    expect(h["ratelimit-limit"]).toEqual(["3000"]);
    expect(errorJson(last!)).toMatchObject({ error: { code: "rate_limit_exceeded" } });
    const keys = await redis.keys(`tollgate:*tenant:b${run}:tokens_per_minute*`);
    expect(keys).toHaveLength(1);
    expect(Number(await redis.get(keys[0]!))).toBeGreaterThan(3000);
  });

  it("truncated body – 400, nothing forwarded unchecked", async () => {
    const body = openaiChat("gpt-4o-mini");
    const req = checkRequest({ method: "POST", path: "/v1/chat/completions", body: body.slice(0, 30), headers: { ...json, authorization: `Bearer ${KEY}`, "content-length": String(body.length) } });
    const res = await t.check(req);
    expect(res.deniedResponse?.status?.code).toBe(400);
    expect(res.dynamicMetadata?.["reason"]).toBe("body_truncated");
  });

  it("malformed JSON body – 400 in the provider's error JSON", async () => {
    const res = await t.check(post("/v1/chat/completions", '{"model": "gpt-4o-mini", "messages": [', { authorization: `Bearer ${KEY}` }));
    expect(res.deniedResponse?.status?.code).toBe(400);
    expect(errorJson(res)).toMatchObject({ error: { message: expect.stringMatching(/invalid JSON body/), type: "invalid_request_error" } });
  });

  it("Anthropic /v1/messages – x-api-key replaced, anthropic-version set", async () => {
    const body = JSON.stringify({ model: "claude-3-5-haiku-20241022", max_tokens: 256, system: "Be brief.", messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] });
    const res = await t.check(post("/v1/messages", body, { "x-api-key": KEY }));
    expect(res.status?.code).toBe(0);
    expect(upstream(res)).toMatchObject({ "x-api-key": [SECRETS.ANTHROPIC_API_KEY], "anthropic-version": ["2023-06-01"], "x-tollgate-upstream": ["anthropic"] });
    expect(res.okResponse?.headersToRemove).toEqual([]);
  });

  it("Anthropic denial – Anthropic's error JSON", async () => {
    const body = JSON.stringify({ model: "claude-3-opus", max_tokens: 10, messages: [{ role: "user", content: "Hi" }] });
    const res = await t.check(post("/v1/messages", body, { "x-api-key": KEY }));
    expect(errorJson(res)).toMatchObject({ type: "error", error: { type: "permission_error" } });
  });

  it("Gemini generateContent – ?key= stripped, x-goog-api-key injected", async () => {
    const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Hello" }] }], generationConfig: { maxOutputTokens: 100 } });
    const res = await t.check(post(`/v1beta/models/gemini-1.5-flash:generateContent?key=${KEY}`, body, {}));
    expect(res.status?.code).toBe(0);
    expect(res.okResponse?.queryParametersToRemove).toEqual(["key"]);
    expect(upstream(res)).toMatchObject({ "x-goog-api-key": [SECRETS.GEMINI_API_KEY], "x-tollgate-upstream": ["gemini"] });
  });

  it.each([
    ["Gemini streamGenerateContent", "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse", JSON.stringify({ contents: [{ parts: [{ text: "Hi" }] }] }), { "x-goog-api-key": KEY }, "localhost", "gemini"],
    ["Mistral (by host)", "/v1/chat/completions", openaiChat("mistral-small-latest"), { authorization: `Bearer ${KEY}` }, "api.mistral.ai", "mistral"],
    ["Azure OpenAI deployment", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-06-01", JSON.stringify({ messages: [{ role: "user", content: "Hi" }] }), { "api-key": KEY }, "contoso.openai.azure.com", "azure-openai"],
    ["Ollama /api/chat", "/api/chat", JSON.stringify({ model: "llama3.1", messages: [{ role: "user", content: "Hi" }], stream: false }), { authorization: `Bearer ${KEY}` }, "localhost", "ollama"],
    ["OpenAI embeddings", "/v1/embeddings", JSON.stringify({ model: "text-embedding-3-small", input: "hello" }), { authorization: `Bearer ${KEY}` }, "localhost", "openai"],
  ])("%s – recognised and routed", async (_n, p, body, headers, authority, cluster) => {
    const res = await t.check(post(p, body, headers, authority));
    expect(res.status?.code, res.deniedResponse?.body).toBe(0);
    expect(upstream(res)["x-tollgate-upstream"]).toEqual([cluster]);
  });

  it("demo tenant – routed to mock-llm with no credential injected", async () => {
    const res = await t.check(post("/v1/chat/completions", openaiChat("gpt-4o-mini"), { authorization: "Bearer tg-demo-acme-key" }));
    expect(res.status?.code).toBe(0);
    // accept-encoding: identity because the demo tenant's token limits are reconciled (docs/policy-limits.md).
    expect(upstream(res)).toEqual({ "x-tollgate-tenant": ["acme"], "x-tollgate-upstream": ["mock-llm"], "accept-encoding": ["identity"] });
    expect(res.okResponse?.headersToRemove).toEqual(["authorization"]);
  });

  it("logs – no provider secret and no client key anywhere, even with input logging on", () => {
    const all = t.logs.raw.join("\n");
    expect(t.logs.events("decision").length).toBeGreaterThan(15);
    for (const secret of [...Object.values(SECRETS), KEY, NOSTREAM_KEY, BUDGET_KEY, "tg-demo-acme-key"]) expect(all).not.toContain(secret);
  });
});
