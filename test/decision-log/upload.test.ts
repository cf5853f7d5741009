import { afterEach, describe, expect, it } from "vitest";
import { DecisionLogSink } from "../../src/decision-log/index.js";
import { encodedSize, ev, ids } from "./events.js";
import { LogServer, waitFor } from "./log-server.js";

let server: LogServer | undefined;
let sink: DecisionLogSink | undefined;
afterEach(async () => {
  await sink?.close();
  await server?.close();
  sink = undefined;
  server = undefined;
});

describe("DecisionLogSink – uploads in OPA's format", () => {
  it("POSTs gzip'd JSON arrays to <url>/logs with the bearer token, a batch as soon as batchMaxEvents wait, the rest after flushIntervalMs", async () => {
    server = await LogServer.start();
    sink = new DecisionLogSink({ url: `${server.url}/v1`, bearerToken: "tok-123456789", batchMaxEvents: 3, flushIntervalMs: 150, labels: { id: "tollgate-test", version: "0.1.0" } });
    for (let i = 0; i < 7; i++) expect(sink.enqueue(ev(i))).toBe("queued");
    await waitFor(() => server!.received.length === 2);
    const twoBatchesAt = Date.now();
    expect(server.ids).toEqual([ids(0, 3), ids(3, 6)]);
    await waitFor(() => server!.received.length === 3);
    expect(Date.now() - twoBatchesAt).toBeGreaterThanOrEqual(100);
    expect(server.ids[2]).toEqual(["d06"]);

    for (const r of server.received) {
      expect(r.method).toBe("POST");
      expect(r.path).toBe("/v1/logs");
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["content-encoding"]).toBe("gzip");
      expect(r.headers["authorization"]).toBe("Bearer tok-123456789");
    }
    expect(server.received[0]!.events[0]).toEqual({
      decision_id: "d00",
      labels: { id: "tollgate-test", version: "0.1.0" },
      revision: "rev-1",
      bundles: { authz: { revision: "rev-1" } },
      path: "envoy/authz/allow",
      input: { attributes: { request: { http: { method: "GET", path: "/v1/models" } } } },
      result: { allowed: true },
      timestamp: "2025-03-01T10:00:00.000Z",
      metrics: { timer_rego_query_eval_ns: 1200, timer_server_handler_ns: 5400 },
    });
    await waitFor(() => sink!.stats().sent === 7); // the server logs a request before its answer reaches the sink
    expect(sink.stats()).toMatchObject({ enqueued: 7, sent: 7, batchesSent: 3, buffered: 0, inFlight: 0, uploadFailures: 0, dropped: { total: 0 } });
  });

  it("a configured resource path and auth scheme are used as given", async () => {
    server = await LogServer.start();
    sink = new DecisionLogSink({ url: `${server.url}/`, resource: "tenants/a/decisions", bearerToken: "abc.def", bearerScheme: "Token", batchMaxEvents: 1 });
    sink.enqueue(ev(0));
    await waitFor(() => server!.received.length === 1);
    expect(server.received[0]!.path).toBe("/tenants/a/decisions");
    expect(server.received[0]!.headers["authorization"]).toBe("Token abc.def");
  });

  it("splits batches so no upload is over batchMaxBytes of JSON, keeping order", async () => {
    server = await LogServer.start();
    const size = await encodedSize();
    sink = new DecisionLogSink({ url: server.url, batchMaxBytes: size * 2 + 3, batchMaxEvents: 100, flushIntervalMs: 20 });
    for (let i = 0; i < 9; i++) sink.enqueue(ev(i));
    await waitFor(() => sink!.stats().sent === 9);
    expect(server.ids).toEqual([ids(0, 2), ids(2, 4), ids(4, 6), ids(6, 8), ids(8, 9)]);
    for (const r of server.received) expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(size * 2 + 3);
  });

  it("retries after 500s with exponential backoff, resending the same events", async () => {
    server = await LogServer.start();
    server.replies = [500, 500, 500];
    sink = new DecisionLogSink({ url: server.url, batchMaxEvents: 2, retryBaseMs: 100, random: () => 1 });
    sink.enqueue(ev(0));
    sink.enqueue(ev(1));
    await waitFor(() => server!.received.length === 4);
    await waitFor(() => sink!.stats().sent === 2);
    expect(server.ids).toEqual([ids(0, 2), ids(0, 2), ids(0, 2), ids(0, 2)]);
    const gaps = server.received.slice(1).map((r, i) => r.at - server!.received[i]!.at);
    [100, 200, 400].forEach((delay, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(delay - 5);
      expect(gaps[i]).toBeLessThan(delay + 300);
    });
    expect(sink.stats()).toMatchObject({ sent: 2, uploadFailures: 3, lastError: "HTTP 500", dropped: { total: 0 } });
  });

  it.each([408, 429, 502, 503])("HTTP %i is retried", async (status) => {
    server = await LogServer.start();
    server.replies = [status];
    sink = new DecisionLogSink({ url: server.url, batchMaxEvents: 1, retryBaseMs: 10 });
    sink.enqueue(ev(0));
    await waitFor(() => sink!.stats().sent === 1);
    expect(server.ids).toEqual([["d00"], ["d00"]]);
    expect(sink.stats().dropped.total).toBe(0);
  });

  it.each([400, 401, 403, 404, 413])("HTTP %i drops that batch for good, counts it, and carries on", async (status) => {
    server = await LogServer.start();
    server.replies = [status];
    sink = new DecisionLogSink({ url: server.url, batchMaxEvents: 2, retryBaseMs: 10 });
    for (let i = 0; i < 4; i++) sink.enqueue(ev(i));
    await waitFor(() => sink!.stats().sent === 2);
    expect(server.ids).toEqual([ids(0, 2), ids(2, 4)]);
    expect(sink.stats()).toMatchObject({ sent: 2, uploadFailures: 1, lastError: `HTTP ${status}`, dropped: { rejected: 2, total: 2 } });
  });

  it("a server that never answers is cut off at requestTimeoutMs and the batch retried", async () => {
    server = await LogServer.start();
    server.replies = ["hang"];
    sink = new DecisionLogSink({ url: server.url, batchMaxEvents: 1, requestTimeoutMs: 200, retryBaseMs: 20, random: () => 0 });
    sink.enqueue(ev(0));
    await waitFor(() => server!.received.length === 2);
    const gap = server.received[1]!.at - server.received[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(200);
    expect(gap).toBeLessThan(1500);
    await waitFor(() => sink!.stats().sent === 1);
    expect(sink.stats()).toMatchObject({ uploadFailures: 1, lastError: "timed out after 200 ms", sent: 1 });
  });
});

describe("DecisionLogSink.close", () => {
  it("flushes what is buffered before resolving, then refuses (and counts) new events", async () => {
    server = await LogServer.start();
    sink = new DecisionLogSink({ url: server.url, flushIntervalMs: 60_000 });
    sink.enqueue(ev(0));
    sink.enqueue(ev(1));
    await new Promise((r) => setTimeout(r, 50));
    expect(server.received).toHaveLength(0);
    await sink.close();
    expect(server.ids).toEqual([ids(0, 2)]);
    expect(sink.enqueue(ev(2))).toBe("closed");
    expect(sink.stats()).toMatchObject({ sent: 2, dropped: { closed: 1, total: 1 } });
  });

  it("keeps retrying during close while time remains", async () => {
    server = await LogServer.start();
    server.replies = [503, 503];
    sink = new DecisionLogSink({ url: server.url, flushIntervalMs: 60_000, retryBaseMs: 20, closeTimeoutMs: 3000 });
    sink.enqueue(ev(0));
    await sink.close();
    expect(server.ids).toEqual([["d00"], ["d00"], ["d00"]]);
    expect(sink.stats()).toMatchObject({ sent: 1, uploadFailures: 2, dropped: { total: 0 } });
  });

  it("gives up at closeTimeoutMs against a server that never answers, counting what it could not deliver", async () => {
    server = await LogServer.start();
    server.fallback = "hang";
    sink = new DecisionLogSink({ url: server.url, batchMaxEvents: 2, requestTimeoutMs: 30_000, closeTimeoutMs: 300 });
    for (let i = 0; i < 5; i++) sink.enqueue(ev(i));
    await waitFor(() => server!.received.length === 1);
    const started = Date.now();
    await sink.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sink.stats()).toMatchObject({ sent: 0, buffered: 0, inFlight: 0, dropped: { closed: 5, total: 5 } });
  });

  it("close() twice returns the same promise", async () => {
    server = await LogServer.start();
    sink = new DecisionLogSink({ url: server.url });
    expect(sink.close()).toBe(sink.close());
    await sink.close();
  });
});
