import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DecisionLogSink, type DecisionLogEvent, type DecisionLogSinkOptions } from "../../src/decision-log/index.js";
import { applyMaskRules, parseMaskRules } from "../../src/observability/mask-rules.js";
import { buildPolicies } from "../../src/policy/build.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { writePolicyDir } from "../support/app.js";
import { ev } from "./events.js";
import { deadPort, LogServer } from "./log-server.js";

// data.system.log.mask / data.system.log.drop as OPA users write them; `input` is the decision-log event.
const LOG_POLICY = `package system.log

mask contains "/input/attributes/request/http/headers/x-user-email"

mask contains "/result/headers/x-internal"

mask contains {"op": "upsert", "path": "/input/attributes/request/http/headers/x-tenant", "value": "[tenant]"}

drop if input.input.attributes.request.http.path == "/healthz"
`;

const request = (path: string) => ({
  attributes: {
    request: {
      http: {
        method: "POST",
        path,
        headers: {
          authorization: "Bearer sk-live-abcdef123456",
          "x-api-key": "tg-secretkey-000111",
          cookie: "session=xyz-cookie-777",
          "x-user-email": "alice@example.com",
          "x-tenant": "acme",
          "content-type": "application/json",
        },
      },
    },
  },
  parsed_query: { key: ["AIzaSyQUERYKEY"] },
});

describe("decision-log sink – masking and dropping with a real data.system.log policy (WASM)", () => {
  let server: LogServer;
  let engine: WasmPolicyEngine;
  beforeAll(async () => {
    server = await LogServer.start();
    const built = await buildPolicies({ dir: writePolicyDir({ "log.rego": LOG_POLICY }), entrypoint: "system/log/drop", runTests: false });
    expect(built.maskEntrypoint).toBe("system/log/mask");
    engine = new WasmPolicyEngine(built, createHostBuiltins());
  });
  afterAll(async () => {
    await server.close();
  });

  it("the server receives the event masked by policy and by the built-in credential masking; dropped events never leave", async () => {
    const sink = new DecisionLogSink({
      url: server.url,
      bearerToken: "upload-token-424242",
      flushIntervalMs: 60_000,
      mask: (e) => engine.evaluateLogMask(e),
      drop: (e) => engine.evaluate(e),
    });
    const chat = { ...ev(0, request("/v1/chat/completions?key=AIzaSyQUERYKEY")), result: { allowed: true, headers: { "x-internal": "1", "x-user": "alice" } } };
    expect(sink.enqueue(chat)).toBe("queued");
    expect(sink.enqueue(ev(1, request("/healthz")))).toBe("dropped_by_policy");
    await sink.close();

    expect(server.received).toHaveLength(1);
    // A Rego set has no defined order, so erased follows whatever order the WASM result gives.
    const sent = server.received[0]!.events.map((e) => ({ ...e, erased: [...(e["erased"] as string[])].sort() }));
    expect(sent).toEqual([
      {
        decision_id: "d00",
        labels: {},
        revision: "rev-1",
        bundles: { authz: { revision: "rev-1" } },
        path: "envoy/authz/allow",
        input: {
          attributes: {
            request: {
              http: {
                method: "POST",
                path: "/v1/chat/completions?key=[REDACTED]",
                headers: { authorization: "[REDACTED]", "x-api-key": "[REDACTED]", cookie: "[REDACTED]", "x-tenant": "[tenant]", "content-type": "application/json" },
              },
            },
          },
          parsed_query: { key: "[REDACTED]" },
        },
        result: { allowed: true, headers: { "x-user": "alice" } },
        erased: ["/input/attributes/request/http/headers/x-user-email", "/result/headers/x-internal"],
        masked: ["/input/attributes/request/http/headers/x-tenant"],
        timestamp: "2025-03-01T10:00:00.000Z",
        metrics: { timer_rego_query_eval_ns: 1200, timer_server_handler_ns: 5400 },
      },
    ]);
    for (const secret of ["sk-live-abcdef123456", "tg-secretkey-000111", "xyz-cookie-777", "alice@example.com", "AIzaSyQUERYKEY", "acme", "upload-token-424242", "d01"]) {
      expect(server.received[0]!.text).not.toContain(secret);
    }
    expect(sink.stats()).toMatchObject({ enqueued: 1, sent: 1, droppedByPolicy: 1, dropped: { total: 0 } });
  });

  it("without any policy hooks the built-in credential masking still applies", async () => {
    const before = server.received.length;
    const sink = new DecisionLogSink({ url: server.url, flushIntervalMs: 60_000 });
    sink.enqueue(ev(5, request("/v1/chat?api_key=plainkey-999")));
    await sink.close();
    const text = server.received[before]!.text;
    for (const secret of ["sk-live-abcdef123456", "tg-secretkey-000111", "xyz-cookie-777", "AIzaSyQUERYKEY", "plainkey-999"]) expect(text).not.toContain(secret);
    expect(text).toContain("alice@example.com");
  });
});

describe("decision-log sink – mask and drop hooks that fail", () => {
  const sinkWith = async (hooks: Partial<DecisionLogSinkOptions>) => new DecisionLogSink({ url: await deadPort(), flushIntervalMs: 60_000, closeTimeoutMs: 1, ...hooks });

  it.each<[string, Partial<DecisionLogSinkOptions>]>([
    ["the mask policy throws", { mask: () => { throw new Error("wasm trap"); } }],
    ["a mask rule addresses labels (OPA allows input, result, nd_builtin_cache only)", { mask: () => [{ result: ["/labels/app"] }] }],
    ["a mask rule has an unknown op", { mask: () => [{ result: [{ op: "replace", path: "/input/a" }] }] }],
    ["a mask rule is a number", { mask: () => [{ result: [42] }] }],
    ["the mask value is not a set", { mask: () => [{ result: "/input/a" }] }],
    ["a mask rule crosses an array tollgate cannot address", { mask: () => [{ result: ["/input/list/0/secret"] }] }],
    ["the drop policy throws", { drop: () => { throw new Error("boom"); } }],
  ])("%s – the event is dropped (never sent unmasked) and counted as an error", async (_t, hooks) => {
    const sink = await sinkWith(hooks);
    expect(sink.enqueue(ev(0, { list: [{ secret: "s" }], a: 1 }))).toBe("error");
    expect(sink.stats()).toMatchObject({ enqueued: 0, dropped: { error: 1, total: 1 } });
    await sink.close();
  });

  it.each<[string, unknown]>([
    ["undefined", undefined],
    ["an empty result set", []],
    ["a result set whose value is undefined", [{}]],
    ["an empty rule set", [{ result: [] }]],
  ])("a mask policy answering %s leaves the event as it is", async (_t, resultSet) => {
    const sink = await sinkWith({ mask: () => resultSet });
    expect(sink.enqueue(ev(0))).toBe("queued");
    await sink.close();
  });

  it.each<[string, boolean, unknown]>([
    ["true", true, [{ result: true }]],
    ["false", false, [{ result: false }]],
    ["undefined", false, []],
    ["a truthy non-boolean", false, [{ result: "yes" }]],
  ])("drop answering %s → dropped: %s", async (_t, dropped, resultSet) => {
    const sink = await sinkWith({ drop: () => resultSet });
    expect(sink.enqueue(ev(0))).toBe(dropped ? "dropped_by_policy" : "queued");
    await sink.close();
  });

  it("the drop policy sees the event without metrics, as in OPA", async () => {
    const seen: Record<string, unknown>[] = [];
    const sink = await sinkWith({ drop: (e) => (seen.push(e), []) });
    sink.enqueue(ev(0));
    expect(Object.keys(seen[0]!).sort()).toEqual(["bundles", "decision_id", "input", "labels", "path", "result", "revision", "timestamp"]);
    await sink.close();
  });
});

describe("mask rules – OPA semantics", () => {
  const event = (): Record<string, unknown> => ({ decision_id: "x", input: { a: { b: 1, c: 2 }, list: [1, 2] }, result: { allowed: true } });
  it.each<[string, unknown[], Record<string, unknown>, string[], string[]]>([
    ["remove a key", ["/input/a/b"], { a: { c: 2 }, list: [1, 2] }, ["/input/a/b"], []],
    ["remove a missing key: no effect, not recorded", ["/input/a/zzz", "/input/q/r"], { a: { b: 1, c: 2 }, list: [1, 2] }, [], []],
    ["remove a whole array value", ["/input/list"], { a: { b: 1, c: 2 } }, ["/input/list"], []],
    ["remove the whole input", ["/input"], undefined as unknown as Record<string, unknown>, ["/input"], []],
    ["upsert an existing key", [{ op: "upsert", path: "/input/a/b", value: "***" }], { a: { b: "***", c: 2 }, list: [1, 2] }, [], ["/input/a/b"]],
    ["upsert creates missing objects", [{ op: "upsert", path: "/input/x/y", value: 0 }], { a: { b: 1, c: 2 }, list: [1, 2], x: { y: 0 } }, [], ["/input/x/y"]],
    ["upsert through a non-object: no effect", [{ op: "upsert", path: "/input/a/b/c", value: 0 }], { a: { b: 1, c: 2 }, list: [1, 2] }, [], []],
    ["an object rule without op removes", [{ path: "/input/a" }], { list: [1, 2] }, ["/input/a"], []],
    ["~1 and ~0 escapes", [{ op: "upsert", path: "/input/a~1b~0", value: 1 }], { a: { b: 1, c: 2 }, list: [1, 2], "a/b~": 1 }, [], ["/input/a~1b~0"]],
  ])("%s", (_t, rules, input, erased, masked) => {
    const e = event();
    const parsed = parseMaskRules([{ result: rules }]);
    expect(typeof parsed).not.toBe("string");
    expect(applyMaskRules(e, parsed as Exclude<typeof parsed, string>)).toEqual({ ok: true, erased, masked });
    expect(e["input"]).toEqual(input);
  });

  it("upsert on an event without that part does nothing, as in OPA", () => {
    const e: Record<string, unknown> = { decision_id: "x" };
    expect(applyMaskRules(e, [{ op: "upsert", path: "/result/x", value: 1 }])).toEqual({ ok: true, erased: [], masked: [] });
    expect(e).toEqual({ decision_id: "x" });
  });

  it.each<[unknown, string]>([
    [[{ result: [""] }], "mask must be non-empty"],
    [[{ result: ["input/a"] }], "mask must be slash-prefixed: input/a"],
    [[{ result: ["/decision_id"] }], "mask prefix not allowed: decision_id"],
    [[{ result: [{ op: "upsert" }] }], 'mask rule path must be a string: {"op":"upsert"}'],
    [{ result: [] }, "mask result set is not an array"],
  ])("parseMaskRules(%j) → %s", (resultSet, message) => {
    expect(parseMaskRules(resultSet)).toBe(message);
  });

  it("the event passed to the mask policy is a copy: the caller's input is never changed", async () => {
    const sink = new DecisionLogSink({ url: await deadPort(), flushIntervalMs: 60_000, closeTimeoutMs: 1, mask: () => [{ result: ["/input/a"] }] });
    const event: DecisionLogEvent = ev(0, { a: "keep-me" });
    sink.enqueue(event);
    expect(event.input).toEqual({ a: "keep-me" });
    await sink.close();
  });
});
