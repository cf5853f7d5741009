import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckRequest, CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";

/**
 * Client-shaped structure that used to reach the policy: every case must be answered by
 * tollgate's own bounds (a 400 or 431 denial in the caller's error format), never by an
 * evaluation error (gRPC INTERNAL, which Envoy turns into a 503 or, with failure_mode_allow,
 * an unauthorized pass), and never cost the event loop more than a normal request.
 */

// A policy that reads the whole body, as a content guard would: walk() visits every node.
const WALKING_POLICY = `package envoy.authz

import rego.v1

default allow := false

allow if {
  count([x | walk(input, [_, x])]) > 0
}
`;

const CHAT = "/v1/chat/completions";

function chat(body: string, extra: Partial<{ headers: Record<string, string> }> = {}): CheckRequest {
  return checkRequest({ method: "POST", path: CHAT, body, headers: { "content-type": "application/json", authorization: "Bearer sk-test", ...extra.headers } });
}

function nested(depth: number): string {
  return `{"model":"gpt-4o","messages":${"[".repeat(depth)}${"]".repeat(depth)}}`;
}

function statusOf(res: CheckResponse): number | undefined {
  return res.deniedResponse?.status?.code;
}

function openAiError(res: CheckResponse): { message: string; type: string } {
  return (JSON.parse(res.deniedResponse?.body ?? "null") as { error: { message: string; type: string } }).error;
}

describe("chaos: client-shaped structure is bounded before the policy sees it", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ "walk.rego": WALKING_POLICY }, { onDecisionError: "error" });
  });
  afterAll(async () => {
    await t.close();
  });

  it("a body nested 4,110 levels deep is a 400 in OpenAI's error format, not an evaluation error", async () => {
    const res = await t.check(chat(nested(4110)));
    expect(statusOf(res)).toBe(400);
    expect(openAiError(res).message).toMatch(/nested more than 64 levels/);
    expect(t.logs.events("decision_error")).toEqual([]);
  });

  it("a body at the depth bound still reaches the policy", async () => {
    // {"messages": [ x62 ]}: the object is level 1, the arrays levels 2..63.
    const res = await t.check(chat(nested(62)));
    expect(res.status?.code).toBe(0);
  });

  it.each([
    ["an array of 400,000 elements", `{"model":"gpt-4o","messages":[${Array(400_000).fill("0").join(",")}]}`, /array of 400000 elements/],
    ["an object with 100,000 keys", `{${Array.from({ length: 100_000 }, (_, i) => `"${i.toString(36)}":0`).join(",")}}`, /more than 1000 keys/],
  ])("%s is a 400 before evaluation", async (_name, body, message) => {
    const res = await t.check(chat(body));
    expect(statusOf(res)).toBe(400);
    expect(openAiError(res).message).toMatch(message);
  });

  it("a url-encoded form with 100,000 fields is a 400", async () => {
    const form = Array.from({ length: 100_000 }, (_, i) => `f${i}=1`).join("&");
    const res = await t.check(checkRequest({ method: "POST", path: "/upload", body: form, headers: { "content-type": "application/x-www-form-urlencoded" } }));
    expect(statusOf(res)).toBe(400);
    expect(res.deniedResponse?.body).toMatch(/more than 1000 keys/);
  });

  it("10,000 headers in header_map (Envoy's encode_raw_headers) are a 431 like the same in headers", async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({ key: `x-h${i}`, value: "v", rawValue: Buffer.alloc(0) }));
    const viaMap = chat("{}");
    viaMap.attributes!.request!.http!.headerMap = { headers: many };
    viaMap.attributes!.request!.http!.headers = {};
    const viaHeaders = chat("{}", { headers: Object.fromEntries(many.map((h) => [h.key, h.value])) });
    for (const req of [viaMap, viaHeaders]) {
      const started = performance.now();
      const res = await t.check(req);
      expect(statusOf(res)).toBe(431);
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });

  it("header_map values count toward the byte bound too", async () => {
    const req = chat("{}");
    req.attributes!.request!.http!.headerMap = { headers: [{ key: "x-big", value: "", rawValue: Buffer.alloc(70 * 1024, 97) }] };
    expect(statusOf(await t.check(req))).toBe(431);
  });

  it("context_extensions, peer labels and metadata namespaces are bounded", async () => {
    const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, "v"]));
    const ext = chat("{}");
    ext.attributes!.contextExtensions = wide;
    expect(statusOf(await t.check(ext))).toBe(400);

    const labels = chat("{}");
    labels.attributes!.destination = { address: undefined, service: "", labels: wide, principal: "", certificate: "" };
    expect(statusOf(await t.check(labels))).toBe(400);

    const meta = chat("{}");
    meta.attributes!.metadataContext = { filterMetadata: Object.fromEntries(Object.keys(wide).map((k) => [k, {}])), typedFilterMetadata: {} };
    expect(statusOf(await t.check(meta))).toBe(400);
  });

  it("metadata Structs (e.g. JWT claims from jwt_authn) get the same depth bound as bodies", async () => {
    // Protobuf decoding itself refuses Structs nested much past 10 levels (grpc-js answers
    // INTERNAL before tollgate sees them), so this case lowers the bound to show it applies.
    const shallow = await startTestApp({ "walk.rego": WALKING_POLICY }, { limits: { maxJsonDepth: 4 } });
    try {
      let deep: unknown = { sub: "user" };
      for (let i = 0; i < 6; i++) deep = { d: deep };
      const meta = chat("{}");
      meta.attributes!.metadataContext = { filterMetadata: { "envoy.filters.http.jwt_authn": deep as Record<string, unknown> }, typedFilterMetadata: {} };
      const res = await shallow.check(meta);
      expect(statusOf(res)).toBe(400);
      expect(openAiError(res).message).toMatch(/metadata_context\.filter_metadata is nested more than 4 levels/);
    } finally {
      await shallow.close();
    }
  });

  it("the service still answers normally after every case above", async () => {
    const res = await t.check(chat('{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'));
    expect(res.status?.code).toBe(0);
    expect(t.logs.events("decision_error")).toEqual([]);
  });
});
