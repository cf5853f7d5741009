import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckRequest, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { RateLimitRequest, RateLimitServiceClient, type RateLimitResponse } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { headerMap, startTestApp, type TestApp } from "../support/app.js";

// Fixtures are CheckRequests and RateLimitRequests exactly as envoy/envoy.yaml makes Envoy send
// them (see test/fixtures/envoy/README.md); here they go through the shipped policy and
// ratelimit/config.yaml over real gRPC.
const fixture = (name: string): unknown => JSON.parse(readFileSync(`test/fixtures/envoy/${name}.json`, "utf8"));

describe("Envoy-shaped fixtures against the shipped policy and ratelimit config", () => {
  let t: TestApp;
  let rls: RateLimitServiceClient;
  beforeAll(async () => {
    t = await startTestApp("policies", { ratelimitConfig: "ratelimit" });
    rls = new RateLimitServiceClient(`127.0.0.1:${t.app.grpcPort}`, credentials.createInsecure());
  });
  afterAll(async () => {
    rls.close();
    await t.close();
  });

  const check = (name: string) => t.check(CheckRequest.fromJSON(fixture(name)));
  const limit = (name: string) =>
    new Promise<RateLimitResponse>((resolve, reject) => rls.shouldRateLimit(RateLimitRequest.fromJSON(fixture(name)), (err, res) => (err ? reject(err) : resolve(res!))));
  const denied = (res: CheckResponse) => ({ status: res.deniedResponse?.status?.code, reason: res.dynamicMetadata?.["reason"] });

  it.each([
    ["check-openai-chat", "mock-llm"],
    ["check-anthropic-messages", "mock-llm"],
  ])("%s – allowed for the demo tenant, client key stripped", async (name, cluster) => {
    const res = await check(name);
    expect(res.status?.code).toBe(0);
    // accept-encoding: identity comes with the reservation of reconciled token limits (ext_proc reads the usage uncompressed).
    expect(headerMap(res.okResponse)).toEqual({ "accept-encoding": ["identity"], "x-tollgate-tenant": ["acme"], "x-tollgate-upstream": [cluster] });
    expect(res.okResponse?.headersToRemove.length).toBe(1);
  });

  it("check-healthz – allowed without a key", async () => {
    expect((await check("check-healthz")).status?.code).toBe(0);
  });

  it.each([
    ["check-gemini-generate-content", 403, "model_not_allowed"],
    ["check-partial-body", 400, "body_truncated"],
    ["check-raw-body-audio", 403, "not_llm"],
  ])("%s – denied %d (%s)", async (name, status, reason) => {
    expect(denied(await check(name))).toEqual({ status, reason });
  });

  it("check-gemini-generate-content – the denial is Gemini's own error JSON", async () => {
    const body = JSON.parse((await check("check-gemini-generate-content")).deniedResponse!.body) as { error: { code: number; status: string } };
    expect(body.error).toMatchObject({ code: 403, status: "PERMISSION_DENIED" });
  });

  it("ratelimit-acme-openai – acme's tenant and tenant+upstream limits, in order", async () => {
    const res = await limit("ratelimit-acme-openai");
    expect(res.overallCode).toBe(1);
    expect(res.statuses.map((s) => [s.currentLimit?.requestsPerUnit, s.limitRemaining])).toEqual([
      [60, 59],
      [30, 29],
    ]);
  });

  it("ratelimit-flood-guard – the per-client limit the flood guard asks about before ext_authz", async () => {
    const res = await limit("ratelimit-flood-guard");
    expect(res.overallCode).toBe(1);
    expect(res.statuses.map((s) => [s.currentLimit?.requestsPerUnit, s.limitRemaining])).toEqual([[20, 19]]);
  });

  it("ratelimit-acme-mock-llm – the mock-llm upstream is unlimited", async () => {
    const res = await limit("ratelimit-acme-mock-llm");
    expect(res.overallCode).toBe(1);
    expect(res.statuses[1]?.limitRemaining).toBe(4294967295);
  });
});
