import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";

// The one "decision" log line per Check, from the shipped policy through a real Check: every line
// names the tenant (null before a key identified one), allowed lines carry their reason too, and a
// prompt-guard denial names the patterns, never the text that matched them.
const DEMO_KEY = "tg-demo-acme-key";
const SECRET = "AKIAABCDEFGHIJKLMNOP";

function chat(key: string | undefined, model: string, content = "hello"): ReturnType<typeof checkRequest> {
  const body = JSON.stringify({ model, messages: [{ role: "user", content }] });
  const headers: Record<string, string> = { "content-type": "application/json", "content-length": String(body.length), ":authority": "localhost:10000" };
  if (key) headers["authorization"] = `Bearer ${key}`;
  return checkRequest({ method: "POST", path: "/v1/chat/completions", headers, body });
}

describe("decision lines from the shipped policy", () => {
  let dir: string;
  let t: TestApp;
  beforeAll(async () => {
    // The demo tenant with a budget of two requests a minute, so the third shows a 429's line.
    dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-decision-line-"));
    cpSync("policies", dir, { recursive: true });
    const data = JSON.parse(readFileSync(path.join(dir, "data.json"), "utf8")) as { gateway: { tenants: { acme: { limits: Record<string, number> } } } };
    data.gateway.tenants.acme.limits["requests_per_minute"] = 2;
    writeFileSync(path.join(dir, "data.json"), JSON.stringify(data));
    t = await startTestApp(dir);
  }, 60_000);
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const lineOf = async (req: ReturnType<typeof checkRequest>): Promise<Record<string, unknown>> => {
    const res = await t.check(req);
    const id = res.dynamicMetadata?.["decision_id"];
    const line = t.logs.events("decision").find((l) => l["decision_id"] === id);
    expect(line, `no decision line for ${String(id)}`).toBeDefined();
    return line!;
  };

  it.each([
    ["allowed", chat(DEMO_KEY, "gpt-4o-mini"), { allowed: true, status: 200, tenant: "acme", reason: "allowed" }],
    ["no key", chat(undefined, "gpt-4o-mini"), { allowed: false, status: 401, tenant: null, reason: "missing_key" }],
    ["an unknown key", chat("tg-not-a-key", "gpt-4o-mini"), { allowed: false, status: 401, tenant: null, reason: "unknown_key" }],
    ["a model the role does not allow", chat(DEMO_KEY, "gpt-4o"), { allowed: false, status: 403, tenant: "acme", reason: "model_not_allowed" }],
  ])("%s – %o", async (_name, req, expected) => {
    const line = await lineOf(req);
    expect(line).toMatchObject(expected);
    expect(line).not.toHaveProperty("guard_patterns");
  });

  it("a prompt-guard denial names the pattern and the tenant, and the line holds no matched text", async () => {
    const line = await lineOf(chat(DEMO_KEY, "gpt-4o-mini", `my key is ${SECRET}`));
    expect(line).toMatchObject({ allowed: false, status: 403, tenant: "acme", reason: "prompt_guard", guard_patterns: ["aws_access_key"] });
    expect(JSON.stringify(line)).not.toContain(SECRET);
  });

  it("a request over the tenant's policy limit keeps the tenant on its 429 line", async () => {
    const lines = [];
    for (let i = 0; i < 3; i++) lines.push(await lineOf(chat(DEMO_KEY, "gpt-4o-mini")));
    expect(lines.at(-1)).toMatchObject({ allowed: false, status: 429, tenant: "acme", reason: "rate_limited" });
  });
});
