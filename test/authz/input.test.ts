import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";

// A policy that hands its whole input back in dynamic_metadata, so each case checks the
// input document exactly as the compiled policy saw it.
const ECHO = `package envoy.authz

allow := {"allowed": true, "dynamic_metadata": {"input": input}}
`;

describe("input document (opa-envoy-plugin v3 contract)", () => {
  let t: TestApp;
  let skip: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ "echo.rego": ECHO });
    skip = await startTestApp({ "echo.rego": ECHO }, { skipRequestBodyParse: true });
  });
  afterAll(async () => {
    await t.close();
    await skip.close();
  });

  async function inputFor(req: Parameters<typeof checkRequest>[0], app = t): Promise<Record<string, unknown>> {
    const res = await app.check(checkRequest(req));
    expect(res.status?.code).toBe(0);
    return res.dynamicMetadata?.["input"] as Record<string, unknown>;
  }

  it("version – names ext_authz v3 and protojson", async () => {
    expect((await inputFor({})).version).toEqual({ ext_authz: "v3", encoding: "protojson" });
  });

  it("attributes – protojson names, only set fields, int64 as string", async () => {
    const input = await inputFor({ method: "POST", path: "/a", body: "{}", headers: { "content-type": "application/json" } });
    const http = (input.attributes as { request: { http: Record<string, unknown>; time: string } }).request;
    expect(http.time).toBe("2023-11-14T22:13:20Z");
    expect(http.http).toMatchObject({ id: "1", method: "POST", path: "/a", host: "example.com", scheme: "http", size: "2", protocol: "HTTP/1.1", body: "{}" });
    expect(http.http).not.toHaveProperty("query");
    expect(http.http).not.toHaveProperty("rawBody");
  });

  it.each([
    ["/a/b/c", ["a", "b", "c"], {}],
    ["/", [""], {}],
    ["//admin/x", ["admin", "x"], {}],
    ["///admin", ["admin"], {}],
    ["/caf%C3%A9/x%20y", ["café", "x y"], {}],
    ["/a?x=1&x=2&y=", ["a"], { x: ["1", "2"], y: [""] }],
    ["/search?q=a+b&q=c%26d", ["search"], { q: ["a b", "c&d"] }],
    ["/a?flag", ["a"], { flag: [""] }],
  ])("parsed_path/parsed_query – %s", async (path, parsedPath, parsedQuery) => {
    const input = await inputFor({ path });
    expect(input.parsed_path).toEqual(parsedPath);
    expect(input.parsed_query).toEqual(parsedQuery);
  });

  it.each([
    ["JSON", "application/json", '{"model":"gpt-4o","n":[1,2]}', { model: "gpt-4o", n: [1, 2] }],
    ["JSON with charset", "application/json; charset=utf-8", '"text"', "text"],
    ["form", "application/x-www-form-urlencoded", "a=1&a=2&b=x+y", { a: ["1", "2"], b: ["x y"] }],
    [
      "multipart",
      "multipart/form-data; boundary=XyZ",
      '--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nagain\r\n--XyZ--\r\n',
      { title: ["hello", "again"], file: ["file body"] },
    ],
    ["other content type", "text/plain", "just text", null],
    ["no content type", undefined, "{}", null],
  ])("parsed_body – %s", async (_name, contentType, body, expected) => {
    const headers: Record<string, string> = contentType ? { "content-type": contentType } : {};
    const input = await inputFor({ method: "POST", body, headers });
    expect(input.parsed_body).toEqual(expected);
    expect(input.truncated_body).toBe(false);
  });

  it("parsed_body – reads raw_body when Envoy packs the body as bytes", async () => {
    const input = await inputFor({ method: "POST", rawBody: Buffer.from('{"k":"v"}'), headers: { "content-type": "application/json" } });
    expect(input.parsed_body).toEqual({ k: "v" });
  });

  it("truncated_body – content-length beyond the body received", async () => {
    const input = await inputFor({ method: "POST", body: '{"a":', headers: { "content-type": "application/json", "content-length": "1000" } });
    expect(input.parsed_body).toBeNull();
    expect(input.truncated_body).toBe(true);
  });

  it("truncated_body – x-envoy-auth-partial-body: true", async () => {
    const input = await inputFor({ method: "POST", body: '{"a":1}', headers: { "content-type": "application/json", "x-envoy-auth-partial-body": "true" } });
    expect(input.parsed_body).toBeNull();
    expect(input.truncated_body).toBe(true);
  });

  it("skip body parse – leaves parsed_body and truncated_body out", async () => {
    const input = await inputFor({ method: "POST", body: "not json", headers: { "content-type": "application/json" } }, skip);
    expect(input).not.toHaveProperty("parsed_body");
    expect(input).not.toHaveProperty("truncated_body");
  });

  it("source_principal – present when Envoy sets the peer principal, absent otherwise", async () => {
    expect((await inputFor({ principal: "spiffe://cluster.local/ns/default/sa/web" })).source_principal).toBe("spiffe://cluster.local/ns/default/sa/web");
    expect(await inputFor({})).not.toHaveProperty("source_principal");
  });
});

describe("requests that cannot be parsed", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ "allow.rego": "package envoy.authz\n\nallow := true\n" });
  });
  afterAll(() => t.close());

  it.each([
    ["invalid JSON", { method: "POST", body: "{nope", headers: { "content-type": "application/json" } }, 400, /invalid JSON body/],
    ["bad percent-encoding", { path: "/a%zz" }, 400, /percent-encoding/],
    ["bad content-length", { method: "POST", body: "{}", headers: { "content-type": "application/json", "content-length": "abc" } }, 400, /content-length/],
    ["unterminated multipart", { method: "POST", body: "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", headers: { "content-type": "multipart/form-data; boundary=b" } }, 400, /closing boundary/],
    ["too many headers", { headers: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-h${i}`, "v"])) }, 431, /headers/],
    ["path too long", { path: `/${"a".repeat(20_000)}` }, 414, /path longer/],
  ] as const)("%s – PERMISSION_DENIED with a clear denied response", async (_name, req, status, message) => {
    const res = await t.check(checkRequest(req));
    expect(res.status?.code).toBe(7);
    expect(res.deniedResponse?.status?.code).toBe(status);
    expect(res.deniedResponse?.body).toMatch(message);
    expect(res.dynamicMetadata?.["decision_id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});
