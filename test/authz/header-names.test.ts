import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRequest, headerMap, startTestApp, type TestApp } from "../support/app.js";

describe("rateLimitHeaderNames – renames the headers of policy-limit answers", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(
      { "p.rego": `package envoy.authz\n\nallow := {"allowed": true, "limits": [{"key": "hn:${Date.now()}", "limit": 1, "window": 3600}]}\n` },
      { rateLimitHeaderNames: { limit: "x-quota-limit", remaining: "x-quota-remaining", reset: "x-quota-reset", retryAfter: "x-retry-in" } },
    );
  });
  afterAll(() => t.close());

  it("allowed answers and the 429 carry the configured names", async () => {
    const ok = await t.check(checkRequest({}));
    expect(Object.keys(headerMap({ headers: ok.okResponse!.responseHeadersToAdd })).sort()).toEqual(["x-quota-limit", "x-quota-remaining", "x-quota-reset"]);
    const over = await t.check(checkRequest({}));
    expect(over.deniedResponse?.status?.code).toBe(429);
    expect(Object.keys(headerMap(over.deniedResponse)).sort()).toEqual(["x-quota-limit", "x-quota-remaining", "x-quota-reset", "x-retry-in"]);
  });
});
