import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CheckRequest, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { headerMap, startTestApp, type TestApp } from "../support/app.js";

// An operator's first edit: replace the published demo tenant. The shipped policy tests run on
// their own fixture data, so they pass whatever data.json holds, and the change activates.
const DEMO = CheckRequest.fromJSON(JSON.parse(readFileSync("test/fixtures/envoy/check-openai-chat.json", "utf8")));

type Gateway = { tenants: Record<string, unknown>; roles: Record<string, unknown> };

/** A copy of the shipped policies/ with data.gateway edited. */
function editedPolicies(edit: (g: Gateway) => void): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-demo-"));
  cpSync("policies", dir, { recursive: true });
  const file = path.join(dir, "data.json");
  const data = JSON.parse(readFileSync(file, "utf8")) as { gateway: Gateway };
  edit(data.gateway);
  writeFileSync(file, JSON.stringify(data, null, 2));
  return dir;
}

function withKey(req: CheckRequest, key: string): CheckRequest {
  const http = req.attributes!.request!.http!;
  return { ...req, attributes: { ...req.attributes!, request: { ...req.attributes!.request!, http: { ...http, headers: { ...http.headers, authorization: `Bearer ${key}` } } } } };
}

const reason = (res: CheckResponse): unknown => res.dynamicMetadata?.["reason"];

describe("replacing the demo tenant", () => {
  let t: TestApp | undefined;
  let dir = "";
  afterEach(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("removing acme activates (opa test passes) and the published demo key stops working", async () => {
    dir = editedPolicies((g) => {
      delete g.tenants["acme"];
    });
    t = await startTestApp(dir);
    expect(t.app.policy.current()?.revision).toBeDefined();
    const res = await t.check(DEMO);
    expect(res.deniedResponse?.status?.code).toBe(401);
    expect(reason(res)).toBe("unknown_key");
  }, 60_000);

  it("a renamed tenant with a new key and 120 requests per minute activates; only the new key works", async () => {
    const key = "tg-initech-7f3a";
    dir = editedPolicies((g) => {
      const acme = g.tenants["acme"] as { limits: Record<string, number> };
      delete g.tenants["acme"];
      g.tenants["initech"] = { ...acme, api_key_sha256: [createHash("sha256").update(key).digest("hex")], limits: { ...acme.limits, requests_per_minute: 120 } };
    });
    t = await startTestApp(dir);
    const allowed = await t.check(withKey(DEMO, key));
    expect(allowed.status?.code).toBe(0);
    expect(headerMap(allowed.okResponse)["x-tollgate-tenant"]).toEqual(["initech"]);
    expect(allowed.dynamicMetadata?.["limits"]).toMatchObject({ requests_per_minute: { limit: 120, remaining: 119 } });
    expect(reason(await t.check(DEMO))).toBe("unknown_key");
  }, 60_000);
});
