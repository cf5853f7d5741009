import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerSecret, maskValue, MASK } from "../../src/observability/mask.js";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";

const POLICY = `package envoy.authz

allow := {"allowed": true, "headers": {"x-user": "alice"}} if input.parsed_path[0] == "ok"
default allow := false
`;

const MASK_POLICY = `package system.log

mask contains "/input/attributes/request/http/headers/x-tenant-note"

mask contains {"op": "upsert", "path": "/input/parsed_body/ssn", "value": "***"} if input.input.parsed_body.ssn
`;

const SECRETS = {
  authorization: "Bearer sk-client-abcdef123456",
  cookie: "session=s3cr3t-cookie",
  "x-api-key": "client-key-987654",
  "x-goog-api-key": "AIzaFakeGoogleKey123",
};

describe("decision log lines", () => {
  let t: TestApp;
  beforeAll(async () => {
    // Body text is kept (masked) only on request: this app asks for it.
    t = await startTestApp({ "p.rego": POLICY, "mask.rego": MASK_POLICY }, { logDecisionInput: true, logDecisionBody: true });
  });
  afterAll(() => t.close());

  it("one line per request with decision_id, revision, allowed, status, method, path, latency", async () => {
    const res = await t.check(checkRequest({ method: "POST", path: "/ok" }));
    const line = t.logs.events("decision").at(-1)!;
    expect(line).toMatchObject({
      decision_id: res.dynamicMetadata?.["decision_id"],
      revision: t.app.policy.current()!.revision,
      allowed: true,
      status: 200,
      method: "POST",
      path: "/ok",
    });
    expect(line["latency_ms"]).toEqual(expect.any(Number));
    expect(line["level"]).toBe("info");
  });

  it("credentials in headers, bearer tokens and key query parameters never reach the log", async () => {
    await t.check(checkRequest({ path: "/ok?key=AIzaQueryKey999&x=1", headers: SECRETS }));
    await t.check(checkRequest({ path: "/denied", headers: SECRETS }));
    const all = t.logs.raw.join("\n");
    for (const secret of [...Object.values(SECRETS), "sk-client-abcdef123456", "AIzaQueryKey999"]) expect(all).not.toContain(secret);
    const line = t.logs.events("decision").at(-1)!;
    const headers = (line["input"] as { attributes: { request: { http: { headers: Record<string, string> } } } }).attributes.request.http.headers;
    expect(headers["authorization"]).toBe(MASK);
    expect(headers["x-api-key"]).toBe(MASK);
    expect(t.logs.events("decision").at(-2)!["path"]).toBe(`/ok?key=${MASK}&x=1`);
  });

  it("data.system.log.mask – erases and upserts by JSON pointer", async () => {
    await t.check(
      checkRequest({ method: "POST", path: "/ok", headers: { "x-tenant-note": "internal", "content-type": "application/json" }, body: '{"user":"a","ssn":"078-05-1120","password":"hunter2"}' }),
    );
    const line = t.logs.events("decision").at(-1)!;
    const input = line["input"] as { attributes: { request: { http: { headers: Record<string, string>; body: string } } }; parsed_body: Record<string, string> };
    expect(input.attributes.request.http.headers).not.toHaveProperty("x-tenant-note");
    // The policy's upsert applies, and built-in credential masking still applies on top.
    expect(input.parsed_body).toEqual({ user: "a", ssn: "***", password: MASK });
    // What the rules hid in parsed_body is hidden in the raw body text too.
    expect(input.attributes.request.http.body).toBe(`{"user":"a","ssn":"${MASK}","password":"${MASK}"}`);
    expect(line["result"]).toEqual([{ result: { allowed: true, headers: { "x-user": "alice" } } }]);
    expect(line["masked"]).toEqual(["/input/parsed_body/ssn"]);
  });
});

describe("masking", () => {
  it("a registered secret is replaced wherever it appears", () => {
    registerSecret("sk-live-provider-000111");
    expect(maskValue({ msg: "upstream said sk-live-provider-000111 is bad", nested: ["x sk-live-provider-000111"] })).toEqual({
      msg: `upstream said ${MASK} is bad`,
      nested: [`x ${MASK}`],
    });
  });

  it.each([
    ["authorization", "anything"],
    ["X-Api-Key", "anything"],
    ["openai-api-key", "anything"],
    ["proxy-authorization", "anything"],
    ["set-cookie", "anything"],
  ])("key %s – value masked", (key, value) => {
    expect(maskValue({ [key]: value })).toEqual({ [key]: MASK });
  });

  it("does not mutate what it masks", () => {
    const obj = { authorization: "Bearer abcdefgh" };
    maskValue(obj);
    expect(obj.authorization).toBe("Bearer abcdefgh");
  });
});

describe("decision lines with a mask the policy got wrong", () => {
  it.each([
    ["a rule outside input and result", 'mask contains "/labels/x"'],
    ["a rule crossing an array", 'mask contains "/input/parsed_path/0"'],
    ["an unknown op", 'mask contains {"op": "replace", "path": "/input/x"}'],
  ])("%s – the input is left out, never logged unmasked", async (_n, rule) => {
    const t = await startTestApp({ "p.rego": POLICY, "mask.rego": `package system.log\n\n${rule}\n` }, { logDecisionInput: true });
    try {
      await t.check(checkRequest({ path: "/ok", headers: { "x-secret-note": "must-not-appear" } }));
      const line = t.logs.events("decision").at(-1)!;
      expect(line).not.toHaveProperty("input");
      expect(t.logs.raw.join("\n")).not.toContain("must-not-appear");
      expect(t.logs.events("log_mask_error")).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});
