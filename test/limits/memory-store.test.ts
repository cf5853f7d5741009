import { describe, expect, test } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { DEFAULT_MAX_KEYS, MemoryLimitStore } from "../../src/limits/memory/memory-store.js";
import { ManualClock } from "./backends.js";
import { T0, bucket, fixed, ok, over, sliding } from "./semantic-cases.js";

async function rejection(promise: Promise<unknown>): Promise<TollgateError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TollgateError);
  return err as TollgateError;
}

describe("MemoryLimitStore", () => {
  test("works with no options (system clock, default cap)", async () => {
    const store = new MemoryLimitStore();
    const [outcome] = await store.apply([fixed("k", 2, 1)], { hashTag: "t" });
    expect(outcome?.over).toBe(false);
    expect(outcome?.remaining).toBe(1);
    expect(DEFAULT_MAX_KEYS).toBe(100_000);
  });

  test.each([0, -1, 1.5, Number.NaN])("maxKeys %s is refused with config_error", (maxKeys) => {
    expect(() => new MemoryLimitStore({ maxKeys })).toThrow(TollgateError);
    try {
      new MemoryLimitStore({ maxKeys });
    } catch (err: unknown) {
      expect((err as TollgateError).code).toBe("config_error");
    }
  });

  test("apply is synchronous inside: concurrent applies against limit 500 admit exactly 500", async () => {
    const store = new MemoryLimitStore({ clock: new ManualClock(T0) });
    const outcomes = await Promise.all(Array.from({ length: 2000 }, () => store.apply([fixed("k", 500, 1)], { hashTag: "c" })));
    expect(outcomes.filter(([o]) => o?.over === false)).toHaveLength(500);
  });

  test("expired windows are dropped when read and by the periodic sweep", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryLimitStore({ clock });
    await store.apply([fixed("f", 5, 1), sliding("s", 5, 1), bucket("b", 5, 1)], { hashTag: "e" });
    expect(store.size).toBe(3);
    // The bucket is full again after 12 s; the fixed window ends at 60 s; the sliding key lives two windows.
    clock.ms = T0 + 61_000;
    await store.apply([fixed("other", 5, 0)], { hashTag: "e" });
    expect(store.size).toBe(1);
    clock.ms = T0 + 121_000;
    await store.apply([fixed("other", 5, 0)], { hashTag: "e" });
    expect(store.size).toBe(0);
  });

  test("at maxKeys the least recently written counter is evicted, and only it", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryLimitStore({ clock, maxKeys: 3 });
    const hit = (key: string): Promise<unknown> => store.apply([fixed(key, 10, 1)], { hashTag: "cap" });
    await hit("a");
    await hit("b");
    await hit("c");
    await hit("a"); // a is now the most recent; b the least
    await hit("d");
    expect(store.size).toBe(3);
    const read = async (key: string): Promise<number | undefined> =>
      (await store.apply([fixed(key, 10, 0)], { hashTag: "cap" }))[0]?.remaining;
    expect(await read("a")).toBe(8);
    expect(await read("b")).toBe(10); // forgotten
    expect(await read("c")).toBe(9);
    expect(await read("d")).toBe(9);
  });

  test("stays bounded under a flood of distinct keys", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryLimitStore({ clock, maxKeys: 1000 });
    for (let i = 0; i < 20_000; i++) {
      clock.ms = T0 + i;
      await store.apply([fixed(`k${i}`, 10, 1), bucket(`b${i}`, 10, 1)], { hashTag: "flood" });
    }
    expect(store.size).toBeLessThanOrEqual(1000);
  });

  test("a full map evicts expired counters before live ones", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryLimitStore({ clock, maxKeys: 2 });
    await store.apply([fixed("long", 10, 1)], { hashTag: "x" });
    clock.ms = T0 + 1;
    // Written last, so plain LRU would keep it and evict "long"; but it expires after 6 s.
    await store.apply([bucket("short", 10, 1)], { hashTag: "x" });
    clock.ms = T0 + 7_000;
    await store.apply([fixed("new", 10, 1)], { hashTag: "x" });
    expect(await store.apply([fixed("long", 10, 0)], { hashTag: "x" })).toEqual([ok(9, 53)]);
  });

  test("a closed store rejects with limit_store_unavailable", async () => {
    const store = new MemoryLimitStore({ clock: new ManualClock(T0) });
    await store.close();
    await store.close();
    const err = await rejection(store.apply([fixed("k", 1, 1)], { hashTag: "t" }));
    expect(err.code).toBe("limit_store_unavailable");
  });

  test.each([Number.NaN, -1, Number.POSITIVE_INFINITY])("a clock reading of %s rejects with internal_error", async (ms) => {
    const store = new MemoryLimitStore({ clock: { nowMs: () => ms } });
    const err = await rejection(store.apply([fixed("k", 1, 1)], { hashTag: "t" }));
    expect(err.code).toBe("internal_error");
  });

  test("a throwing clock rejects instead of throwing", async () => {
    const store = new MemoryLimitStore({
      clock: {
        nowMs: () => {
          throw new Error("clock broke");
        },
      },
    });
    const err = await rejection(store.apply([fixed("k", 1, 1)], { hashTag: "t" }));
    expect(err.message).toBe("clock broke");
  });

  test("fractional clock readings are accepted (floored to whole milliseconds)", async () => {
    const clock = new ManualClock(T0 + 0.9);
    const store = new MemoryLimitStore({ clock });
    expect(await store.apply([bucket("b", 10, 10)], { hashTag: "f" })).toEqual([ok(0, 60)]);
    clock.ms = T0 + 5_999.9;
    expect(await store.apply([bucket("b", 10, 1)], { hashTag: "f" })).toEqual([over(0, 1)]);
  });
});
