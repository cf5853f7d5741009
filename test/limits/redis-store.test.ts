import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { TollgateError } from "../../src/errors.js";
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_KEY_PREFIX,
  createRedisLimitStore,
  type RedisLimitStore,
  type RedisLimitStoreOptions,
} from "../../src/limits/redis/redis-store.js";
import { freePort } from "../support/redis-server.js";
import { ManualClock, SHARED_REDIS_URL, uniquePrefix } from "./backends.js";
import { T0, fixed, ok } from "./semantic-cases.js";

const stores: RedisLimitStore[] = [];
function track(store: RedisLimitStore): RedisLimitStore {
  stores.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function rejection(promise: Promise<unknown>): Promise<TollgateError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TollgateError);
  return err as TollgateError;
}

describe("createRedisLimitStore options", () => {
  test("defaults: 50 ms command timeout and the tollgate: key prefix", () => {
    expect(DEFAULT_COMMAND_TIMEOUT_MS).toBe(50);
    expect(DEFAULT_KEY_PREFIX).toBe("tollgate:");
  });

  const bad: Array<{ title: string; options: Partial<RedisLimitStoreOptions>; message: RegExp }> = [
    { title: "commandTimeoutMs 0", options: { commandTimeoutMs: 0 }, message: /commandTimeoutMs must be an integer in 1\.\.60000, got 0/ },
    { title: "commandTimeoutMs 1.5", options: { commandTimeoutMs: 1.5 }, message: /commandTimeoutMs/ },
    { title: "connectTimeoutMs 120000", options: { connectTimeoutMs: 120_000 }, message: /connectTimeoutMs/ },
    { title: "keyPrefix with a brace", options: { keyPrefix: "a{b}:" }, message: /keyPrefix must be a string without/ },
    { title: "unknown URL scheme", options: { url: "memcached://h" }, message: /invalid Redis URL memcached:\/\/h/ },
    { title: "several hosts without cluster", options: { url: "redis://a:1,b:2" }, message: /several hosts/ },
  ];
  test.each(bad)("$title throws config_error synchronously", ({ options, message }) => {
    let caught: unknown;
    try {
      track(createRedisLimitStore({ url: SHARED_REDIS_URL, ...options }));
    } catch (err: unknown) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).code).toBe("config_error");
    expect((caught as TollgateError).message).toMatch(message);
  });

  test.each([
    ["redis://127.0.0.1:1", undefined, "redis"],
    ["redis+cluster://127.0.0.1:1,127.0.0.1:2", undefined, "redis-cluster"],
    ["redis://127.0.0.1:1", true, "redis-cluster"],
  ] as const)("%s (cluster: %s) is a %s store", (url, cluster, kind) => {
    const store = track(createRedisLimitStore({ url, ...(cluster === undefined ? {} : { cluster }) }));
    expect(store.kind).toBe(kind);
    expect(store.ready).toBe(false);
  });
});

describe("Redis store lifecycle", () => {
  test("an apply right after creation waits (bounded) for the first connection", async () => {
    const store = track(
      createRedisLimitStore({ url: SHARED_REDIS_URL, keyPrefix: uniquePrefix("early"), clock: new ManualClock(T0), commandTimeoutMs: 2000 }),
    );
    expect(await store.apply([fixed("k", 3, 1)], { hashTag: "early" })).toEqual([ok(2, 60)]);
    expect(store.ready).toBe(true);
  });

  test("many applies waiting for the first connection all proceed, without listener-leak warnings", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on("warning", onWarning);
    try {
      const store = track(
        createRedisLimitStore({ url: SHARED_REDIS_URL, keyPrefix: uniquePrefix("burst"), clock: new ManualClock(T0), commandTimeoutMs: 2000 }),
      );
      const outcomes = await Promise.all(Array.from({ length: 50 }, () => store.apply([fixed("k", 100, 1)], { hashTag: "burst" })));
      expect(outcomes.map(([o]) => o?.remaining).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i));
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  test("an empty apply answers [] without touching Redis, even when Redis is unreachable", async () => {
    const store = track(createRedisLimitStore({ url: `redis://127.0.0.1:${await freePort()}` }));
    expect(await store.apply([], { hashTag: "t" })).toEqual([]);
  });

  test("bad input is reported as config_error even when Redis is unreachable", async () => {
    const store = track(createRedisLimitStore({ url: `redis://127.0.0.1:${await freePort()}` }));
    const err = await rejection(store.apply([fixed("k", -1, 1)], { hashTag: "t" }));
    expect(err.code).toBe("config_error");
  });

  test.each([
    ["single", (port: number) => `redis://127.0.0.1:${port}`],
    ["cluster", (port: number) => `redis+cluster://127.0.0.1:${port}`],
  ] as const)("unreachable %s Redis: apply and waitUntilReady reject with limit_store_unavailable, fast", async (_kind, url) => {
    const store = track(createRedisLimitStore({ url: url(await freePort()) }));
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const err = await rejection(store.apply([fixed("k", 1, 1)], { hashTag: "t" }));
      expect(err.code).toBe("limit_store_unavailable");
      expect(performance.now() - started).toBeLessThan(250);
    }
    const started = performance.now();
    const err = await rejection(store.waitUntilReady(150));
    expect(err.code).toBe("limit_store_unavailable");
    expect(err.message).toMatch(/not connected after 150 ms/);
    expect(performance.now() - started).toBeLessThan(400);
  });

  test("close() is idempotent; a closed store rejects with limit_store_unavailable and is not ready", async () => {
    const store = createRedisLimitStore({ url: SHARED_REDIS_URL, keyPrefix: uniquePrefix("closed") });
    await store.waitUntilReady(2000);
    expect(store.ready).toBe(true);
    await store.close();
    await store.close();
    expect(store.ready).toBe(false);
    const err = await rejection(store.apply([fixed("k", 1, 1)], { hashTag: "t" }));
    expect(err.code).toBe("limit_store_unavailable");
    expect(err.message).toMatch(/closed/);
    expect((await rejection(store.waitUntilReady(10))).code).toBe("limit_store_unavailable");
  });

  test("connection errors are logged as warnings, throttled, without the password", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const logger = pino({ level: "info" }, sink);
    const store = track(createRedisLimitStore({ url: `redis://:hunter2@127.0.0.1:${await freePort()}`, logger }));
    await new Promise((resolve) => setTimeout(resolve, 600)); // ~6 reconnect attempts
    const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; redis: string }).filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toBe("limit store cannot reach Redis; retrying");
    expect(warnings[0]?.redis).toMatch(/^redis:\/\/:\*\*\*@127\.0\.0\.1:\d+$/);
    expect(lines.join("")).not.toContain("hunter2");
    await store.close();
  });
});
