import { randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeReservation, RESERVATION_METADATA_KEY, type Reservation } from "../../src/limits/reservation.js";
import { startMockLlm, type MockLlm } from "../deploy/support/mock-llm.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { EnvoyExtProcDriver, filterConfigFromEnvoyYaml } from "./envoy-driver.js";
import { callUpstream, llmCheck, metadataAfterCheck, packWithTenants, reconciledLine, startEarlyInMinute, type LlmCall } from "./stack.js";
import { writeReservationKey, type ReservationKeyFile } from "../support/reservation-key.js";

// A response that does not end while anyone waits: mock-llm streams 100,000 tokens (~17 MB) of
// OpenAI chat chunks without a usage chunk; the client leaves after 5 MB. tollgate (in this
// process, so its heap is this heap) must hold a bounded amount per stream however long the
// stream runs, and reconcile what it counted when the client goes.

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const STREAMS = 4;
const MB = 1024 * 1024;
/** Where the streams pause together for a heap reading, and where their clients leave. */
const FIRST = 1.5 * MB;
const SECOND = 4.5 * MB;
const LEAVE = 5 * MB;

const run = randomBytes(4).toString("hex");
const KEY = `tg-endless-${run}`;
const tenant = `e${run}`;

/** Resolves once `n` parties have arrived. */
function barrier(n: number): { arrive(): Promise<void>; all: Promise<void> } {
  let arrived = 0;
  let open!: () => void;
  const all = new Promise<void>((r) => (open = r));
  return {
    all,
    arrive() {
      arrived += 1;
      if (arrived === n) open();
      return all;
    },
  };
}

/** The upstream body, held at FIRST and SECOND bytes until `release` says go on; closes the upstream when dropped. */
async function* paced(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, stops: { at: number; arrive: () => Promise<void>; release: Promise<void> }[]): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  const pending = [...stops];
  for await (const chunk of body) {
    yield chunk;
    bytes += chunk.length;
    while (pending.length > 0 && bytes >= pending[0]!.at) {
      const stop = pending.shift()!;
      await stop.arrive();
      await stop.release;
    }
  }
}

function heap(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe("a stream that never ends: bounded state per stream, and a disconnect reconciles what was counted", () => {
  let t: TestApp;
  let mock: MockLlm;
  let driver: EnvoyExtProcDriver;
  let redis: Redis;
  let keyFile: ReservationKeyFile;
  let key: Buffer;

  beforeAll(async () => {
    keyFile = writeReservationKey();
    key = keyFile.key;
    redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    const policies = packWithTenants([{ name: tenant, apiKey: KEY, limits: { tokens_per_minute: 100_000_000, tokens_per_day: 1_000_000_000 } }]);
    t = await startTestApp(policies, { redisUrl: "redis://127.0.0.1:6379", reservationKeyFile: keyFile.file });
    mock = await startMockLlm();
    // 10 s, not envoy.yaml's 0.5 s: this one event loop also plays Envoy and the clients on a shared 2-core machine (asserted: no timeout).
    driver = new EnvoyExtProcDriver(`127.0.0.1:${t.app.grpcPort}`, { ...filterConfigFromEnvoyYaml(), messageTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    driver?.close();
    await mock?.stop();
    await t?.close();
    const keys = await redis.keys(`tollgate:{${tenant}}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    keyFile?.remove();
  });

  const redisKey = (c: Reservation["counters"][number]) => `tollgate:{${c.hashTag}}:${c.key}:${c.windowStartMs / 1000}`;

  it(`${STREAMS} such streams at once: the heap does not grow with what streams through, and each reconciles as disconnected, counters exact`, async () => {
    await startEarlyInMinute(40_000);
    const call: LlmCall = {
      path: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Keep talking." }], stream: true, max_tokens: 100_000 },
      mock: { "x-mock-reply-tokens": "100000" },
    };
    const reservations = await Promise.all(
      Array.from({ length: STREAMS }, async () => {
        const res = await t.check(llmCheck(call, KEY));
        expect(res.status?.code).toBe(0);
        return { reservation: decodeReservation(res.dynamicMetadata?.[RESERVATION_METADATA_KEY], key, Date.now()), metadata: metadataAfterCheck(res) };
      }),
    );
    const counters = reservations[0]!.reservation.counters;
    const before = await Promise.all(counters.map(async (c) => Number(await redis.get(redisKey(c)))));

    const first = barrier(STREAMS);
    const second = barrier(STREAMS);
    let releaseFirst!: () => void;
    let releaseSecond!: () => void;
    const goFirst = new Promise<void>((r) => (releaseFirst = r));
    const goSecond = new Promise<void>((r) => (releaseSecond = r));
    const drives = reservations.map(async ({ metadata }, i) => {
      const upstream = await callUpstream(mock.url, call, 100 + i, 16_384);
      const body = paced(upstream.body, [
        { at: FIRST, arrive: first.arrive, release: goFirst },
        { at: SECOND, arrive: second.arrive, release: goSecond },
      ]);
      try {
        return await driver.drive({ metadata, response: { ...upstream, body }, resetAfterBytes: LEAVE, keepBody: false });
      } finally {
        // The client left: drop the upstream connection too (Envoy resets it).
        await body.return(undefined);
      }
    });

    // Heap readings while every stream is held at the same point, after tollgate answered what it got.
    await first.all;
    await new Promise((r) => setTimeout(r, 500));
    const atFirst = heap();
    releaseFirst();
    await second.all;
    await new Promise((r) => setTimeout(r, 500));
    const atSecond = heap();
    releaseSecond();
    const results = await Promise.all(drives);

    // 4 × 3 MB went through tollgate between the readings. Kept as text it would be 1-2 times that
    // in the heap; the reader keeps one partial event and a few hundred characters of text per
    // stream. Half of it is the margin for GC noise (readings moved by -0.9 to -3.4 MB here);
    // anything kept per byte streamed would be 100% or more.
    const streamed = STREAMS * (SECOND - FIRST);
    const growth = atSecond - atFirst;
    expect(growth / streamed, `heap grew ${growth} bytes while ${streamed} bytes streamed`).toBeLessThan(0.5);

    for (const r of results) {
      expect(r).toMatchObject({ ending: "downstream_reset", messageTimeouts: 0 });
      expect(r.gaveUp).toBeUndefined();
      expect(r.bytesDelivered).toBeGreaterThanOrEqual(LEAVE);
    }
    let actual = 0;
    let reserved = 0;
    for (const [i, { reservation }] of reservations.entries()) {
      const line = await reconciledLine(t.logs, reservation.decisionId, 30_000);
      // The event the disconnect cut in half is not bad input: not malformed.
      expect(line).toMatchObject({ outcome: "disconnected", usage_source: "estimated", malformed_events: 0 });
      // What tollgate counted: at least the 5 MB the client got (one word, at least one token, per chunk
      // of under 400 bytes), at most what was sent (Envoy's flow control keeps that within ~1 MiB more).
      const output = line["output_tokens"] as number;
      expect(output, `stream ${i}`).toBeGreaterThan(LEAVE / 400);
      expect(line["body_bytes"] as number).toBeLessThan(LEAVE + 1.1 * MB);
      expect(line["actual_tokens"]).toBe(reservation.estimatedInputTokens + output);
      actual += line["actual_tokens"] as number;
      reserved += reservation.counters[0]!.reserved;
    }
    const after = await Promise.all(counters.map(async (c) => Number(await redis.get(redisKey(c)))));
    counters.forEach((_, i) => expect(after[i]).toBe(before[i]! - reserved + actual));
    console.log(`endless: heap growth ${growth} B over ${streamed} B streamed (${((growth / streamed) * 100).toFixed(2)}%), ${actual} tokens reconciled`);
  }, 180_000);
});
