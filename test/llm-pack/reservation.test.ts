import { createHash, randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { decodeReservation, RESERVATION_METADATA_KEY, type Reservation } from "../../src/limits/reservation.js";
import { checkRequest, headerMap, startTestApp, type TestApp } from "../support/app.js";
import { writeReservationKey, type ReservationKeyFile } from "../support/reservation-key.js";

// The reservation handle Check writes for the ext_proc server, through a real gRPC Check on the
// shipped policies/ pack compiled to WASM, counted in the shared Redis. The ext_proc side is played
// by what it calls: decodeReservation and the app's own store.reconcile.

const run = randomBytes(4).toString("hex");
const TOKENS_KEY = `tg-test-${run}-tokens`;
const REQUESTS_ONLY_KEY = `tg-test-${run}-requests`;
const NO_STOP_KEY = `tg-test-${run}-nostop`;
const SMALL_BUDGET_KEY = `tg-test-${run}-small`;
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const tenant = `r${run}`;

function policiesWithTestTenants(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-reservation-"));
  cpSync("policies", dir, { recursive: true });
  const data = JSON.parse(readFileSync(path.join(dir, "data.json"), "utf8")) as { gateway: { tenants: Record<string, unknown>; roles: Record<string, unknown> } };
  data.gateway.roles["tester"] = { models: ["gpt-4o-mini", "claude-3-5-haiku*"], operations: ["chat", "messages"], max_output_tokens: 1024, stream: true };
  data.gateway.tenants[tenant] = { role: "tester", api_key_sha256: [sha(TOKENS_KEY)], upstream: "mock-llm", limits: { requests_per_minute: 1000, tokens_per_minute: 50_000, tokens_per_day: 1_000_000 } };
  data.gateway.tenants[`q${run}`] = { role: "tester", api_key_sha256: [sha(REQUESTS_ONLY_KEY)], upstream: "mock-llm", limits: { requests_per_minute: 1000 } };
  data.gateway.tenants[`s${run}`] = { role: "tester", api_key_sha256: [sha(NO_STOP_KEY)], upstream: "mock-llm", limits: { tokens_per_minute: 50_000, stream_stop: false } };
  data.gateway.tenants[`o${run}`] = { role: "tester", api_key_sha256: [sha(SMALL_BUDGET_KEY)], upstream: "mock-llm", limits: { tokens_per_minute: 500 } };
  writeFileSync(path.join(dir, "data.json"), JSON.stringify(data));
  return dir;
}

const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello in French." }], ...extra });

function post(body: string, key: string, headers: Record<string, string> = {}) {
  return checkRequest({
    method: "POST",
    path: "/v1/chat/completions",
    body,
    headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ":authority": "localhost:10000", authorization: `Bearer ${key}`, "accept-encoding": "gzip, br", ...headers },
  });
}

const handle = (res: CheckResponse): unknown => res.dynamicMetadata?.[RESERVATION_METADATA_KEY];

describe("reservation handle in Check's dynamic_metadata (shipped LLM pack, real gRPC, real Redis)", () => {
  let t: TestApp;
  let redis: Redis;
  let keyFile: ReservationKeyFile;
  let key: Buffer;

  beforeAll(async () => {
    keyFile = writeReservationKey({ trailingNewline: true });
    key = keyFile.key;
    redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    t = await startTestApp(policiesWithTestTenants(), { redisUrl: "redis://127.0.0.1:6379", reservationKeyFile: keyFile.file });
  });
  afterAll(async () => {
    await t?.close();
    const keys = await redis.keys(`tollgate:{policy:*}:*:tenant:?${run}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    keyFile?.remove();
  });

  it("an admitted stream carries the signed reservation of its token limits, and asks the upstream for identity encoding", async () => {
    const before = Date.now();
    const res = await t.check(post(chat({ stream: true, max_tokens: 300 }), TOKENS_KEY));
    expect(res.status?.code).toBe(0);
    expect(headerMap(res.okResponse)["accept-encoding"]).toEqual(["identity"]);

    const r = decodeReservation(handle(res), key, Date.now());
    expect(r.decisionId).toBe(res.dynamicMetadata?.["decision_id"]);
    expect({ provider: r.provider, operation: r.operation, model: r.model, stream: r.stream }).toEqual({ provider: "openai", operation: "chat", model: "gpt-4o-mini", stream: true });
    expect(r.estimatedInputTokens).toBeGreaterThan(0);
    expect(r.issuedAtMs).toBeGreaterThanOrEqual(before);
    // Only the limits marked reconcile: true (the token limits), each charged input estimate + max_tokens.
    const reserved = r.estimatedInputTokens + 300;
    const minute = Math.floor(r.issuedAtMs / 60_000) * 60_000;
    expect(r.counters).toEqual([
      { name: "tokens_per_minute", key: `60s:tenant:${tenant}:tokens_per_minute`, hashTag: `policy:${tenant}`, algorithm: "fixed_window", windowSeconds: 60, windowStartMs: expect.any(Number) as number, limit: 50_000, reserved, streamStop: true },
      { name: "tokens_per_day", key: `86400s:tenant:${tenant}:tokens_per_day`, hashTag: `policy:${tenant}`, algorithm: "fixed_window", windowSeconds: 86_400, windowStartMs: expect.any(Number) as number, limit: 1_000_000, reserved, streamStop: true },
    ]);
    // The window the store counted in (the Check may straddle a minute boundary: then the earlier one).
    expect([minute, minute - 60_000]).toContain(r.counters[0]!.windowStartMs);
    expect(r.counters[1]!.windowStartMs % 86_400_000).toBe(0);
    expect(await redis.get(`tollgate:{policy:${tenant}}:60s:tenant:${tenant}:tokens_per_minute:${r.counters[0]!.windowStartMs / 1000}`)).toBe(String(reserved));
  });

  it("reconciling what the handle says leaves the counters at the actual usage (what the ext_proc server does at end of stream)", async () => {
    const res = await t.check(post(chat({ stream: false, max_tokens: 1000 }), TOKENS_KEY));
    const r: Reservation = decodeReservation(handle(res), key, Date.now());
    const [minuteCounter, dayCounter] = r.counters;
    const dayKey = `tollgate:{policy:${tenant}}:86400s:tenant:${tenant}:tokens_per_day:${dayCounter!.windowStartMs / 1000}`;
    const dayBefore = Number(await redis.get(dayKey));

    const actual = 137;
    const outcomes = await t.app.store.reconcile(r.counters.map((counter) => ({ counter, delta: actual - counter.reserved })));
    expect(outcomes.map((o) => o.applied)).toEqual([true, true]);
    expect(Number(await redis.get(dayKey))).toBe(dayBefore - dayCounter!.reserved + actual);
    expect(outcomes[1]!.remaining).toBe(1_000_000 - (dayBefore - dayCounter!.reserved + actual));
    expect(minuteCounter!.streamStop).toBe(true);
  });

  it("a handle signed by this replica is refused under any other key (replicas must share reservationKeyFile)", async () => {
    const res = await t.check(post(chat({ stream: true }), TOKENS_KEY));
    expect(() => decodeReservation(handle(res), randomBytes(48), Date.now())).toThrow(/bad signature/);
  });

  it("a tenant with stream_stop: false still gets its token limits reconciled, but never stopped", async () => {
    const res = await t.check(post(chat({ stream: true }), NO_STOP_KEY));
    const r = decodeReservation(handle(res), key, Date.now());
    expect(r.counters.map((c) => [c.name, c.streamStop])).toEqual([["tokens_per_minute", false]]);
  });

  it("no limit marked reconcile: no handle, and the client's accept-encoding goes upstream untouched", async () => {
    const res = await t.check(post(chat({ stream: true }), REQUESTS_ONLY_KEY));
    expect(res.status?.code).toBe(0);
    expect(handle(res)).toBeUndefined();
    expect(headerMap(res.okResponse)["accept-encoding"]).toBeUndefined();
  });

  it("a refused request (over its token budget) carries no handle: nothing was reserved", async () => {
    const res = await t.check(post(chat({ stream: true, max_tokens: 1000 }), SMALL_BUDGET_KEY));
    expect(res.deniedResponse?.status?.code).toBe(429);
    expect(handle(res)).toBeUndefined();
  });

  it("the key comes from the file: nothing says a random key was used", () => {
    expect(t.logs.lines.some((l) => l["event"] === "reservation_key_random")).toBe(false);
    expect(JSON.stringify(t.logs.lines)).not.toContain(key.toString());
  });
});

describe("without reservationKeyFile", () => {
  it("a random per-process key signs handles, and the start log says so once", async () => {
    const t = await startTestApp(policiesWithTestTenants(), { redisUrl: "redis://127.0.0.1:6379" });
    try {
      const res = await t.check(post(chat({ stream: true }), TOKENS_KEY));
      expect(decodeReservation(handle(res), t.app.reservationKey, Date.now()).counters).toHaveLength(2);
      expect(t.logs.lines.filter((l) => l["event"] === "reservation_key_random")).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});
