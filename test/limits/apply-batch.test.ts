import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { createRedisLimitStore, type RedisLimitStore } from "../../src/limits/redis/redis-store.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { uniquePrefix } from "./backends.js";
import { T0, bucket, fixed, ok, over, sliding } from "./semantic-cases.js";

// Concurrent applies on one Redis share one script call (APPLY_BATCH_LUA): same answers as one
// call each, in order, each with its own clock and stop flag, and one failing request fails alone.
describe("apply calls batched into one script", () => {
  let server: RedisServer;
  let store: RedisLimitStore;
  let raw: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    store = createRedisLimitStore({ url: server.url, keyPrefix: uniquePrefix("batch"), commandTimeoutMs: 2000 });
    await store.waitUntilReady(5000);
    raw = new Redis(server.url);
  });
  afterAll(async () => {
    raw.disconnect();
    await store.close();
    await server.stop();
  });

  const scripts = async (): Promise<number> => {
    const info = await raw.info("commandstats");
    return ["evalsha", "eval"].reduce((n, name) => n + Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0), 0);
  };

  test("50 concurrent calls on one counter admit exactly the limit, in order, in fewer script calls than calls", async () => {
    const before = await scripts();
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => store.apply([fixed("one", 30, 1)], { hashTag: "t", nowMs: T0 })));
    const after = await scripts();
    expect(outcomes.map((o) => o[0]!.over)).toEqual([...Array<boolean>(30).fill(false), ...Array<boolean>(20).fill(true)]);
    expect(outcomes.map((o) => o[0]!.remaining)).toEqual([...Array.from({ length: 30 }, (_, i) => 29 - i), ...Array<number>(20).fill(0)]);
    expect(after - before).toBeLessThan(50);
  });

  test("each call keeps its own clock, stop flag and algorithms", async () => {
    const [a, b, c] = await Promise.all([
      store.apply([fixed("clock", 5, 1, 60)], { hashTag: "u", nowMs: 0 }),
      store.apply([fixed("clock", 5, 1, 60)], { hashTag: "u", nowMs: 60_000 }), // the next window: a new counter
      store.apply([fixed("stop-a", 1, 2), sliding("stop-b", 5, 1), bucket("stop-c", 5, 1)], { hashTag: "u", nowMs: T0, stopIncrementWhenOver: true }),
    ]);
    expect(a).toEqual([ok(4, 60)]);
    expect(b).toEqual([ok(4, 60)]);
    expect(c!.map((o) => o.over)).toEqual([true, false, false]);
    // stop: nothing of the over request was counted, so the same call again sees the same counters.
    const again = await store.apply([sliding("stop-b", 5, 1), bucket("stop-c", 5, 1)], { hashTag: "u", nowMs: T0 });
    expect(again.map((o) => o.remaining)).toEqual([c![1]!.remaining - 1, c![2]!.remaining - 1]);
    // A fixed window counts even an over request (as ratelimit does), so its own counter is spent.
    expect(c![0]).toEqual(over(0, 60));
  });

  test("a request whose key holds something else fails alone; the others in its batch are answered and counted", async () => {
    const prefix = uniquePrefix("wrongtype");
    const own = createRedisLimitStore({ url: server.url, keyPrefix: prefix, commandTimeoutMs: 2000 });
    try {
      await own.waitUntilReady(5000);
      await raw.set(`${prefix}{v}:bad:${Math.floor(T0 / 60_000) * 60}`, "not a number");
      const results = await Promise.allSettled([
        own.apply([fixed("good", 10, 1)], { hashTag: "v", nowMs: T0 }),
        own.apply([fixed("bad", 10, 1)], { hashTag: "v", nowMs: T0 }),
        own.apply([fixed("good", 10, 1)], { hashTag: "v", nowMs: T0 }),
      ]);
      expect(results[0]).toEqual({ status: "fulfilled", value: [ok(9, 60)] });
      expect(results[2]).toEqual({ status: "fulfilled", value: [ok(8, 60)] });
      expect(results[1]?.status).toBe("rejected");
      const err = (results[1] as PromiseRejectedResult).reason as TollgateError;
      expect(err.code).toBe("limit_store_unavailable");
      expect(err.message).toMatch(/does not hold a number/);
    } finally {
      await own.close();
    }
  });
});
