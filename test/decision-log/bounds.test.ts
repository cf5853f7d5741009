import { describe, expect, it } from "vitest";
import { DecisionLogSink, backoffDelay, decisionLogEvent, type DecisionLogEvent, type DecisionLogSinkOptions } from "../../src/decision-log/index.js";
import { TollgateError } from "../../src/errors.js";
import { encodedSize, ev } from "./events.js";
import { deadPort, LogServer, waitFor } from "./log-server.js";

describe("DecisionLogSink – bounded memory under a dead server", () => {
  it.each<[string, number, (size: number) => Partial<DecisionLogSinkOptions>]>([
    ["maxBufferedEvents 5", 5, () => ({ maxBufferedEvents: 5 })],
    ["maxBufferedBytes of 3.5 events", 3, (size) => ({ maxBufferedBytes: Math.floor(size * 3.5) })],
  ])("%s – keeps the newest %i of 20, drops and counts every other one exactly", async (_t, kept, limits) => {
    const size = await encodedSize();
    const sink = new DecisionLogSink({ url: await deadPort(), batchMaxEvents: 2, retryBaseMs: 50, closeTimeoutMs: 200, ...limits(size) });
    for (let i = 0; i < 20; i++) expect(sink.enqueue(ev(i))).toBe("queued");
    await waitFor(() => sink.stats().uploadFailures >= 1);
    const s = sink.stats();
    expect(s.buffered + s.inFlight).toBe(kept);
    expect(s.dropped).toEqual({ bufferFull: 20 - kept, tooLarge: 0, error: 0, rejected: 0, closed: 0, total: 20 - kept });
    expect(s.bufferedBytes).toBeLessThanOrEqual(kept * size);
    expect(s.lastError).toMatch(/ECONNREFUSED/);

    await sink.close();
    expect(sink.stats()).toMatchObject({ enqueued: 20, sent: 0, buffered: 0, inFlight: 0, dropped: { bufferFull: 20 - kept, closed: kept, total: 20 } });
  });

  it("the oldest go first: what survives is the newest events, delivered once the sink flushes", async () => {
    const server = await LogServer.start();
    const sink = new DecisionLogSink({ url: server.url, maxBufferedEvents: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) sink.enqueue(ev(i));
    await sink.close();
    expect(server.ids).toEqual([["d07", "d08", "d09"]]);
    expect(sink.stats()).toMatchObject({ sent: 3, dropped: { bufferFull: 7, total: 7 } });
    await server.close();
  });
});

describe("DecisionLogSink – bad events never throw; each is counted", () => {
  it.each<[string, unknown]>([
    ["null", null],
    ["an array", [1]],
    ["no decision_id", { timestamp: "2025-01-01T00:00:00Z" }],
    ["an empty decision_id", { decision_id: "" }],
    ["a numeric decision_id", { decision_id: 7 }],
    ["a BigInt in the input", { decision_id: "x", input: { n: 10n } }],
    ["a circular input", (() => { const o: Record<string, unknown> = { decision_id: "x" }; o["input"] = o; return o; })()],
  ])("%s → \"error\"", async (_t, event) => {
    const sink = new DecisionLogSink({ url: await deadPort(), flushIntervalMs: 60_000, closeTimeoutMs: 1 });
    expect(sink.enqueue(event as DecisionLogEvent)).toBe("error");
    expect(sink.stats()).toMatchObject({ enqueued: 0, buffered: 0, dropped: { error: 1, total: 1 } });
    await sink.close();
  });

  it("an event over maxEventBytes → \"too_large\"", async () => {
    const sink = new DecisionLogSink({ url: await deadPort(), maxEventBytes: 500, flushIntervalMs: 60_000, closeTimeoutMs: 1 });
    expect(sink.enqueue(ev(0, { blob: "x".repeat(600) }))).toBe("too_large");
    expect(sink.enqueue(ev(1))).toBe("queued");
    expect(sink.stats()).toMatchObject({ enqueued: 1, dropped: { tooLarge: 1, total: 1 } });
    await sink.close();
  });

  it("a missing timestamp is filled in, labels are added, and the caller's event object is not modified", async () => {
    const server = await LogServer.start();
    const sink = new DecisionLogSink({ url: server.url, flushIntervalMs: 60_000, labels: { id: "x", app: "tg" } });
    const event = { decision_id: "abc", labels: { app: "mine" }, input: { a: 1 } } as unknown as DecisionLogEvent;
    const before = JSON.stringify(event);
    expect(sink.enqueue(event)).toBe("queued");
    expect(JSON.stringify(event)).toBe(before);
    await sink.close();
    const stored = server.received[0]!.events[0]!;
    expect(Date.parse(stored["timestamp"] as string)).toBeGreaterThan(Date.now() - 5000);
    expect(stored["labels"]).toEqual({ id: "x", app: "mine" });
    await server.close();
  });
});

describe("DecisionLogSink – options are checked up front", () => {
  it.each<[string, Partial<DecisionLogSinkOptions>, RegExp]>([
    ["an unparseable url", { url: "not a url" }, /invalid url "not a url"/],
    ["a non-HTTP url", { url: "ftp://logs.example" }, /url must be http or https, got ftp:/],
    ["batchMaxEvents 0", { batchMaxEvents: 0 }, /batchMaxEvents must be a positive integer, got 0/],
    ["a fractional timeout", { requestTimeoutMs: 1.5 }, /requestTimeoutMs must be a positive integer/],
    ["a negative buffer", { maxBufferedBytes: -1 }, /maxBufferedBytes must be a positive integer/],
    ["a tiny batchMaxBytes", { batchMaxBytes: 10 }, /batchMaxBytes must be at least 64/],
    ["retryMaxMs below retryBaseMs", { retryBaseMs: 500, retryMaxMs: 100 }, /retryMaxMs must be >= retryBaseMs/],
    ["a token with a newline", { bearerToken: "abc\r\nx-evil: 1" }, /bearerToken must be a non-empty single line/],
    ["an empty token", { bearerToken: "" }, /bearerToken must be a non-empty single line/],
  ])("%s – config_error", (_t, options, message) => {
    let caught: unknown;
    try {
      new DecisionLogSink({ url: "http://127.0.0.1:1", ...options });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).code).toBe("config_error");
    expect((caught as TollgateError).message).toMatch(message);
  });
});

describe("backoffDelay", () => {
  it.each<[number, number, number]>([
    // attempt, random, delay (base 100, max 1000)
    [1, 0, 50],
    [1, 1, 100],
    [2, 0, 100],
    [2, 1, 200],
    [3, 0.5, 300],
    [4, 1, 800],
    [5, 1, 1000],
    [5, 0, 500],
    [200, 1, 1000],
    [0, 1, 100],
  ])("attempt %i with random %d → %i ms", (attempt, random, delay) => {
    expect(backoffDelay({ attempt, baseMs: 100, maxMs: 1000, random: () => random })).toBe(delay);
  });
});

describe("decisionLogEvent", () => {
  it("fills OPA's fields, with bundles only when the bundle is named, and leaves out what is unknown", () => {
    expect(decisionLogEvent({ decisionId: "id-1", path: "data/envoy/authz/allow", timestamp: new Date(0) })).toEqual({
      decision_id: "id-1",
      path: "envoy/authz/allow",
      timestamp: "1970-01-01T00:00:00.000Z",
    });
    expect(
      decisionLogEvent({ decisionId: "id-2", path: "/envoy/authz/allow", revision: "r9", bundleName: "main", timestamp: new Date(0), evalNs: 1.6, requestedBy: "10.0.0.1:5000", labels: { app: "x" } }),
    ).toEqual({
      decision_id: "id-2",
      labels: { app: "x" },
      revision: "r9",
      bundles: { main: { revision: "r9" } },
      path: "envoy/authz/allow",
      requested_by: "10.0.0.1:5000",
      timestamp: "1970-01-01T00:00:00.000Z",
      metrics: { timer_rego_query_eval_ns: 2 },
    });
  });
});
