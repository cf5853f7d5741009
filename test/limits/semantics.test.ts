import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TollgateError } from "../../src/errors.js";
import type { Adjustment, ApplyOptions, LimitRequest, LimitStore } from "../../src/limits/types.js";
import { startRedisCluster, type RedisCluster } from "../support/redis-server.js";
import { ManualClock, SHARED_REDIS_URL, connectedRedisStore, memoryStore, uniquePrefix } from "./backends.js";
import { RECONCILE_CASES, SEMANTIC_CASES, T0, applied, bucket, fixed, ok, reservedOn, sliding } from "./semantic-cases.js";

/** The same table runs against every store; they must agree exactly. */
interface Backend {
  name: string;
  store: LimitStore;
  clock: ManualClock;
  /** Raw client to look at keys (Redis backends only). */
  raw?: Redis | Cluster;
  prefix: string;
}

let cluster: RedisCluster;
const backends: Backend[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  const memClock = new ManualClock(T0);
  backends.push({ name: "memory", store: memoryStore(memClock), clock: memClock, prefix: "" });

  const redisClock = new ManualClock(T0);
  const redisPrefix = uniquePrefix("semantics");
  backends.push({
    name: "redis",
    store: await connectedRedisStore({ url: SHARED_REDIS_URL, clock: redisClock, keyPrefix: redisPrefix }),
    clock: redisClock,
    raw: new Redis(SHARED_REDIS_URL),
    prefix: redisPrefix,
  });

  const clusterClock = new ManualClock(T0);
  const clusterPrefix = uniquePrefix("semantics");
  backends.push({
    name: "redis-cluster",
    store: await connectedRedisStore({ url: cluster.url, clock: clusterClock, keyPrefix: clusterPrefix }),
    clock: clusterClock,
    raw: new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port }))),
    prefix: clusterPrefix,
  });
});

afterAll(async () => {
  for (const b of backends) {
    await b.store.close();
    if (b.raw instanceof Redis) {
      const keys = await b.raw.keys(`${b.prefix}*`);
      if (keys.length > 0) await b.raw.del(...keys);
    }
    b.raw?.disconnect();
  }
  await cluster?.stop();
});

const byName = (name: string): Backend => {
  const b = backends.find((x) => x.name === name);
  if (b === undefined) throw new Error(`no backend ${name}`);
  return b;
};

const BACKEND_NAMES = ["memory", "redis", "redis-cluster"] as const;

describe.each(BACKEND_NAMES)("%s store", (name) => {
  test("reports its kind", () => {
    expect(byName(name).store.kind).toBe(name);
  });

  for (const [i, { title, steps }] of SEMANTIC_CASES.entries()) {
    test(title, async () => {
      const b = byName(name);
      const hashTag = `case-${i}`;
      for (const [n, step] of steps.entries()) {
        b.clock.ms = T0 + step.at;
        const outcomes = await b.store.apply(step.limits, { hashTag, stopIncrementWhenOver: step.stop ?? false });
        expect(outcomes, `step ${n + 1} at +${step.at} ms`).toEqual(step.expect);
      }
    });
  }

  for (const [i, { title, steps }] of RECONCILE_CASES.entries()) {
    test(`reconcile: ${title}`, async () => {
      const b = byName(name);
      const hashTag = `reconcile-case-${i}`;
      for (const [n, step] of steps.entries()) {
        b.clock.ms = T0 + step.at;
        const label = `step ${n + 1} at +${step.at} ms`;
        if ("apply" in step) {
          expect(await b.store.apply(step.apply, { hashTag }), label).toEqual(step.expect);
        } else {
          const adjustments = step.reconcile.map((a) => ({ ...a, counter: { ...a.counter, hashTag } }));
          expect(await b.store.reconcile(adjustments), label).toEqual(step.expect);
        }
      }
    });
  }

  test("peek reads what is left without changing it", async () => {
    const b = byName(name);
    b.clock.ms = T0 + 10_000;
    const counters = [fixed("f", 10, 3), sliding("s", 10, 4), bucket("t", 10, 5)].map((r) => ({ ...reservedOn(r, 0), hashTag: "peek" }));
    await b.store.apply([fixed("f", 10, 3), sliding("s", 10, 4), bucket("t", 10, 5)], { hashTag: "peek" });
    expect(await b.store.peek(counters)).toEqual([7, 6, 5]);
    expect(await b.store.peek(counters)).toEqual([7, 6, 5]);
  });

  test("apply at a given instant (nowMs) counts in that instant's window, whatever the store's clock says", async () => {
    const b = byName(name);
    b.clock.ms = T0 + 59_999;
    expect(await b.store.apply([fixed("at", 10, 4)], { hashTag: "now-ms", nowMs: T0 + 60_000 })).toEqual([ok(6, 60)]);
    b.clock.ms = T0 + 60_000;
    expect(await b.store.reconcile([{ counter: { ...reservedOn(fixed("at", 10, 4), 60_000), hashTag: "now-ms" }, delta: -1 }])).toEqual([applied(7)]);
  });

  test("reconcile once: the same id again changes nothing and answers what the first did (each hash tag on its own); another id applies", async () => {
    const b = byName(name);
    b.clock.ms = T0 + 10_000;
    await b.store.apply([fixed("o", 100, 40)], { hashTag: "once-a" });
    await b.store.apply([fixed("o", 100, 40)], { hashTag: "once-b" });
    const adjustments = ["once-a", "once-b"].map((hashTag) => ({ counter: { ...reservedOn(fixed("o", 100, 40), 0), hashTag }, delta: -30 }));
    expect(await b.store.reconcile(adjustments, { once: "decision-1" })).toEqual([applied(90), applied(90)]);
    expect(await b.store.reconcile(adjustments, { once: "decision-1" })).toEqual([applied(90), applied(90)]);
    expect(await b.store.peek(adjustments.map((a) => a.counter))).toEqual([90, 90]);
    expect(await b.store.reconcile(adjustments.slice(0, 1), { once: "decision-2" })).toEqual([applied(100)]);
    const err: unknown = await b.store.reconcile(adjustments, { once: "{tag}" }).then(() => undefined, (e: unknown) => e);
    expect((err as TollgateError).code).toBe("config_error");
  });

  test("the same key under two hash tags is two counters", async () => {
    const b = byName(name);
    b.clock.ms = T0;
    expect(await b.store.apply([fixed("k", 1, 1)], { hashTag: "tag-one" })).toEqual([ok(0, 60)]);
    expect(await b.store.apply([fixed("k", 1, 1)], { hashTag: "tag-two" })).toEqual([ok(0, 60)]);
  });

  test("hash tags containing { } % are kept apart and still work", async () => {
    const b = byName(name);
    b.clock.ms = T0;
    expect(await b.store.apply([fixed("k", 2, 1), sliding("s", 2, 1)], { hashTag: "{x}" })).toEqual([ok(1, 60), ok(1, 60)]);
    expect(await b.store.apply([fixed("k", 2, 1)], { hashTag: "%7Bx%7D" })).toEqual([ok(1, 60)]);
    expect(await b.store.apply([fixed("k", 2, 1)], { hashTag: "{x}" })).toEqual([ok(0, 60)]);
  });

  const invalid: Array<{ title: string; requests: unknown; options?: unknown; message: RegExp }> = [
    { title: "empty key", requests: [{ ...fixed("k", 1, 1), key: "" }], message: /requests\[0\]\.key/ },
    { title: "negative limit", requests: [fixed("k", -1, 1)], message: /requests\[0\]\.limit/ },
    { title: "fractional limit", requests: [fixed("k", 1.5, 1)], message: /requests\[0\]\.limit/ },
    { title: "NaN limit", requests: [fixed("k", Number.NaN, 1)], message: /requests\[0\]\.limit/ },
    { title: "limit above uint32", requests: [fixed("k", 4_294_967_296, 1)], message: /requests\[0\]\.limit/ },
    { title: "window 0", requests: [fixed("k", 1, 1, 0)], message: /requests\[0\]\.windowSeconds/ },
    { title: "fractional window", requests: [fixed("k", 1, 1, 0.5)], message: /requests\[0\]\.windowSeconds/ },
    { title: "negative hits", requests: [fixed("k", 1, -1)], message: /requests\[0\]\.hits/ },
    { title: "string hits", requests: [{ ...fixed("k", 1, 1), hits: "1" }], message: /requests\[0\]\.hits/ },
    { title: "unknown algorithm", requests: [{ ...fixed("k", 1, 1), algorithm: "leaky_bucket" }], message: /requests\[0\]\.algorithm/ },
    { title: "null request", requests: [fixed("k", 1, 1), null], message: /requests\[1\] must be an object/ },
    { title: "requests not an array", requests: "nope", message: /requests must be an array/ },
    { title: "empty hash tag", requests: [fixed("k", 1, 1)], options: { hashTag: "" }, message: /hashTag/ },
    { title: "non-boolean stopIncrementWhenOver", requests: [fixed("k", 1, 1)], options: { hashTag: "t", stopIncrementWhenOver: "yes" }, message: /stopIncrementWhenOver/ },
    { title: "missing options", requests: [fixed("k", 1, 1)], options: null, message: /options/ },
    { title: "two limits on one counter", requests: [fixed("k", 1, 1), fixed("k", 5, 1)], message: /requests\[1\] uses the same counter/ },
    { title: "too many limits", requests: Array.from({ length: 1025 }, (_, i) => fixed(`k${i}`, 1, 1)), message: /1025 limits/ },
  ];
  for (const { title, requests, options, message } of invalid) {
    test(`bad input – ${title} rejects with config_error and changes nothing`, async () => {
      const b = byName(name);
      b.clock.ms = T0;
      const opts = (options === undefined ? { hashTag: "bad-input" } : options) as ApplyOptions;
      const err: unknown = await b.store.apply(requests as LimitRequest[], opts).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TollgateError);
      expect((err as TollgateError).code).toBe("config_error");
      expect((err as TollgateError).message).toMatch(message);
      expect(await b.store.apply([fixed("k", 1, 0)], { hashTag: "bad-input" })).toEqual([ok(1, 60)]);
    });
  }
});

describe.each(BACKEND_NAMES)("%s store – bad reconcile input", (name) => {
  const good = (): Adjustment => ({ counter: { ...reservedOn(fixed("k", 10, 5), 0), hashTag: "bad-reconcile" }, delta: -2 });
  const invalid: Array<{ title: string; adjustments: unknown; message: RegExp }> = [
    { title: "not an array", adjustments: "nope", message: /adjustments must be an array/ },
    { title: "null adjustment", adjustments: [good(), null], message: /adjustments\[1\] must be an object/ },
    { title: "refund above the reservation", adjustments: [{ ...good(), delta: -6 }], message: /adjustments\[0\]\.delta/ },
    { title: "fractional delta", adjustments: [{ ...good(), delta: 1.5 }], message: /adjustments\[0\]\.delta/ },
    { title: "string delta", adjustments: [{ ...good(), delta: "1" }], message: /adjustments\[0\]\.delta/ },
    { title: "empty key", adjustments: [{ ...good(), counter: { ...good().counter, key: "" } }], message: /counter\.key/ },
    { title: "empty hash tag", adjustments: [{ ...good(), counter: { ...good().counter, hashTag: "" } }], message: /counter\.hashTag/ },
    { title: "unknown algorithm", adjustments: [{ ...good(), counter: { ...good().counter, algorithm: "leaky_bucket" } }], message: /counter\.algorithm/ },
    { title: "window start not on a window boundary", adjustments: [{ ...good(), counter: { ...good().counter, windowStartMs: T0 + 1 } }], message: /is not the start of a 60 s window/ },
    { title: "token bucket with limit 0", adjustments: [{ counter: { ...good().counter, algorithm: "token_bucket", limit: 0 }, delta: 1 }], message: /limit 0 holds nothing/ },
    { title: "negative reserved", adjustments: [{ ...good(), counter: { ...good().counter, reserved: -1 } }], message: /counter\.reserved/ },
    { title: "too many adjustments", adjustments: Array.from({ length: 1025 }, () => good()), message: /1025 adjustments/ },
  ];
  for (const { title, adjustments, message } of invalid) {
    test(`${title} rejects with config_error and changes nothing`, async () => {
      const b = byName(name);
      b.clock.ms = T0;
      await b.store.apply([fixed("k", 10, 5)], { hashTag: "bad-reconcile" });
      const err: unknown = await b.store.reconcile(adjustments as Adjustment[]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TollgateError);
      expect((err as TollgateError).code).toBe("config_error");
      expect((err as TollgateError).message).toMatch(message);
      expect(await b.store.apply([fixed("k", 10, 0)], { hashTag: "bad-reconcile" })).toEqual([ok(5, 60)]);
      await b.store.reconcile([{ ...good(), delta: -5 }]);
    });
  }
});

describe.each(["redis", "redis-cluster"] as const)("%s keys", (name) => {
  const raw = (): Redis | Cluster => {
    const r = byName(name).raw;
    if (r === undefined) throw new Error("no raw client");
    return r;
  };

  test("keys are <prefix>{<hashTag>}:<key>:<windowStart>[:sw] and <prefix>{<hashTag>}:<key>:tb", async () => {
    const b = byName(name);
    b.clock.ms = T0 + 90_000;
    await b.store.apply([fixed("f", 5, 1), sliding("s", 5, 1), bucket("t", 5, 1)], { hashTag: "shape" });
    const windowStart = (T0 + 60_000) / 1000;
    expect(await raw().get(`${b.prefix}{shape}:f:${windowStart}`)).toBe("1");
    expect(await raw().get(`${b.prefix}{shape}:s:${windowStart}:sw`)).toBe("1");
    expect(Number(await raw().get(`${b.prefix}{shape}:t:tb`))).toBe(T0 + 90_000 + 12_000);
  });

  test("counter TTLs are set once, when the window key is created; hits 0 creates nothing", async () => {
    const b = byName(name);
    b.clock.ms = T0;
    const windowStart = T0 / 1000;
    const fixedKey = `${b.prefix}{ttl}:f:${windowStart}`;
    const slidingKey = `${b.prefix}{ttl}:s:${windowStart}:sw`;
    const limits = [fixed("f", 100, 1), sliding("s", 100, 1)];

    await b.store.apply(limits.map((l) => ({ ...l, hits: 0 })), { hashTag: "ttl" });
    expect(await raw().exists(fixedKey)).toBe(0);
    expect(await raw().exists(slidingKey)).toBe(0);

    await b.store.apply(limits, { hashTag: "ttl" });
    const fixedTtl = await raw().pttl(fixedKey);
    const slidingTtl = await raw().pttl(slidingKey);
    expect(fixedTtl).toBeGreaterThan(59_000);
    expect(fixedTtl).toBeLessThanOrEqual(60_000);
    expect(slidingTtl).toBeGreaterThan(119_000);
    expect(slidingTtl).toBeLessThanOrEqual(120_000);

    await new Promise((resolve) => setTimeout(resolve, 300));
    await b.store.apply(limits, { hashTag: "ttl" });
    expect(await raw().get(fixedKey)).toBe("2");
    // Not refreshed: at least the 300 ms slept have gone by.
    expect(await raw().pttl(fixedKey)).toBeLessThanOrEqual(fixedTtl - 250);
    expect(await raw().pttl(slidingKey)).toBeLessThanOrEqual(slidingTtl - 250);
  });

  test("a token bucket key expires when the bucket would be full again", async () => {
    const b = byName(name);
    b.clock.ms = T0;
    const key = `${b.prefix}{ttl-tb}:t:tb`;
    await b.store.apply([bucket("t", 10, 1)], { hashTag: "ttl-tb" });
    const first = await raw().pttl(key);
    expect(first).toBeGreaterThan(5_000);
    expect(first).toBeLessThanOrEqual(6_000);
    await b.store.apply([bucket("t", 10, 2)], { hashTag: "ttl-tb" });
    const second = await raw().pttl(key);
    expect(second).toBeGreaterThan(17_000);
    expect(second).toBeLessThanOrEqual(18_000);
  });

  test("the script is reloaded after SCRIPT FLUSH (NOSCRIPT falls back to EVAL)", async () => {
    const b = byName(name);
    b.clock.ms = T0;
    expect(await b.store.apply([fixed("n", 5, 1)], { hashTag: "noscript" })).toEqual([ok(4, 60)]);
    const r = raw();
    if (r instanceof Cluster) {
      await Promise.all(r.nodes("master").map((node) => node.script("FLUSH")));
    } else {
      await r.script("FLUSH");
    }
    expect(await b.store.apply([fixed("n", 5, 1)], { hashTag: "noscript" })).toEqual([ok(3, 60)]);
  });

  test("a counter key holding something else rejects with limit_store_unavailable", async () => {
    const b = byName(name);
    b.clock.ms = T0;
    await raw().set(`${b.prefix}{wrong}:t:tb`, "not-a-number");
    await raw().lpush(`${b.prefix}{wrong}:f:${T0 / 1000}`, "x");
    for (const limit of [bucket("t", 5, 1), fixed("f", 5, 1)]) {
      const err: unknown = await b.store.apply([limit], { hashTag: "wrong" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TollgateError);
      expect((err as TollgateError).code).toBe("limit_store_unavailable");
    }
  });
});

describe("redis-cluster slots", () => {
  test("one reconcile whose counters carry different hash tags adjusts each in its own slot (one script per tag)", async () => {
    const b = byName("redis-cluster");
    const r = b.raw as Cluster;
    b.clock.ms = T0 + 10_000;
    const tags = Array.from({ length: 12 }, (_, i) => `reconcile-spread-${i}`);
    for (const hashTag of tags) await b.store.apply([fixed("f", 100, 40), bucket("t", 100, 40)], { hashTag });
    const adjustments = tags.flatMap((hashTag) => [
      { counter: { ...reservedOn(fixed("f", 100, 40), 0), hashTag }, delta: -30 },
      { counter: { ...reservedOn(bucket("t", 100, 40), 0), hashTag }, delta: 10 },
    ]);
    expect(await b.store.reconcile(adjustments)).toEqual(tags.flatMap(() => [applied(90), applied(50)]));
    for (const hashTag of tags) expect(await r.get(`${b.prefix}{${hashTag}}:f:${T0 / 1000}`)).toBe("10");
    const perNode = await Promise.all(r.nodes("master").map(async (node) => (await node.keys(`${b.prefix}{reconcile-spread-*`)).length));
    expect(perNode.filter((count) => count > 0).length).toBeGreaterThan(1);
  });

  test("all keys of one request share a slot, and different hash tags spread over the nodes", async () => {
    const b = byName("redis-cluster");
    const r = b.raw as Cluster;
    b.clock.ms = T0;
    const limits = Array.from({ length: 12 }, (_, i) => [fixed(`f${i}`, 5, 1), sliding(`s${i}`, 5, 1), bucket(`t${i}`, 5, 1)]).flat();
    const tags = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
    for (const hashTag of tags) {
      const outcomes = await b.store.apply(limits, { hashTag });
      expect(outcomes).toHaveLength(36);
      expect(outcomes.every((o) => !o.over && o.remaining === 4)).toBe(true);
    }
    const perNode = await Promise.all(r.nodes("master").map(async (node) => (await node.keys(`${b.prefix}{spread-*`)).length));
    expect(perNode.reduce((a, c) => a + c, 0)).toBe(30 * 36);
    expect(perNode.filter((count) => count > 0).length).toBe(3);
  });
});
