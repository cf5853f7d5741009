import { afterEach, describe, expect, test } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { createRedisLimitStore, type RedisLimitStore } from "../../src/limits/redis/redis-store.js";
import { freePort, startRedisCluster, startRedisServer, type RedisCluster, type RedisServer } from "../support/redis-server.js";
import { uniquePrefix } from "./backends.js";
import { fixed } from "./semantic-cases.js";

/**
 * Every call must settle within its deadline plus what a busy 2-core machine may add before the
 * timer runs: the bound is relative to the deadline, with generous slack for scheduling.
 */
const SCHEDULING_SLACK_MS = 250;
const RECOVERY_MS = 1000;
/** Where success must not hinge on a 50 ms round trip on a loaded machine, a roomier deadline. */
const ROOMY_TIMEOUT_MS = 250;

interface Call {
  startedAt: number;
  ms: number;
  ok: boolean;
  code?: string;
}

/** Fires an apply every few ms until stopped, recording how long each took and how it ended. */
function hammer(store: RedisLimitStore, hashTags: string[] = ["outage"]): { calls: Call[]; stop: () => Promise<void> } {
  const calls: Call[] = [];
  let running = true;
  const loop = (async () => {
    let i = 0;
    while (running) {
      const startedAt = performance.now();
      try {
        const hashTag = hashTags[i % hashTags.length] ?? "outage";
        await store.apply([fixed(`k${i++ % 10}`, 1_000_000, 1)], { hashTag });
        calls.push({ startedAt, ms: performance.now() - startedAt, ok: true });
      } catch (err: unknown) {
        const code = err instanceof TollgateError ? err.code : `not a TollgateError: ${String(err)}`;
        calls.push({ startedAt, ms: performance.now() - startedAt, ok: false, code });
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    calls,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function expectBounded(calls: Call[], commandTimeoutMs = 50): void {
  const bound = commandTimeoutMs + SCHEDULING_SLACK_MS;
  const slow = calls.filter((c) => c.ms >= bound);
  expect(slow, `calls slower than ${bound} ms`).toEqual([]);
  const badCodes = calls.filter((c) => !c.ok && c.code !== "limit_store_unavailable");
  expect(badCodes).toEqual([]);
}

/** ms from `since` until the first successful call after it (Infinity when none). */
function firstSuccessAfter(calls: Call[], since: number): number {
  const first = calls.find((c) => c.ok && c.startedAt >= since);
  return first === undefined ? Number.POSITIVE_INFINITY : first.startedAt + first.ms - since;
}

let server: RedisServer | undefined;
let cluster: RedisCluster | undefined;
let store: RedisLimitStore | undefined;
afterEach(async () => {
  await store?.close();
  await server?.stop();
  await cluster?.stop();
  store = undefined;
  server = undefined;
  cluster = undefined;
});

describe("bounded failure", () => {
  test("Redis killed: every call rejects fast with limit_store_unavailable; service returns within 1 s of restart", async () => {
    server = await startRedisServer();
    store = createRedisLimitStore({ url: server.url, keyPrefix: uniquePrefix("outage"), commandTimeoutMs: ROOMY_TIMEOUT_MS });
    await store.waitUntilReady(2000);
    const load = hammer(store);

    await sleep(300);
    // Measured once the process is gone: on a loaded machine the kill itself can take a while,
    // and calls answered before the process exits are rightly answered by Redis.
    const killStartedAt = performance.now();
    await server.kill();
    const killedAt = performance.now();
    await sleep(600);
    const restartAt = performance.now();
    await server.start();
    const backAt = performance.now();
    await sleep(1500);
    await load.stop();

    const { calls } = load;
    expectBounded(calls, ROOMY_TIMEOUT_MS);
    // A call still in flight when the process dies is rightly rejected: only those answered before the kill must be counted.
    expect(calls.filter((c) => c.startedAt + c.ms < killStartedAt && !c.ok).map((c) => `${c.code} after ${Math.round(c.ms)} ms`)).toEqual([]);
    // Ended before the restart began: a call queued while Redis was starting may rightly succeed.
    const during = calls.filter((c) => c.startedAt > killedAt + 20 && c.startedAt + c.ms < restartAt);
    expect(during.length).toBeGreaterThan(5);
    expect(during.filter((c) => c.ok).map((c) => `ok after ${Math.round(c.ms)} ms`)).toEqual([]);
    // "Fast" means without waiting out the deadline: a dropped connection fails at once.
    const sorted = during.map((c) => c.ms).sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(ROOMY_TIMEOUT_MS / 5);
    expect(firstSuccessAfter(calls, backAt)).toBeLessThan(RECOVERY_MS);
    // Once back, it stays back.
    expect(calls.filter((c) => c.startedAt > backAt + RECOVERY_MS).every((c) => c.ok)).toBe(true);
  });

  test("Redis frozen (SIGSTOP): the first calls time out at commandTimeoutMs, later ones fail at once while it stays frozen; after SIGCONT service returns within 1 s", async () => {
    server = await startRedisServer();
    const frozen = server;
    store = createRedisLimitStore({ url: server.url, keyPrefix: uniquePrefix("freeze") });
    await store.waitUntilReady(2000);
    const load = hammer(store);
    await sleep(200);

    const pid = await serverPid(frozen.port);
    process.kill(pid, "SIGSTOP");
    const frozenAt = performance.now();
    await sleep(500);
    process.kill(pid, "SIGCONT");
    const thawedAt = performance.now();
    await sleep(1500);
    await load.stop();

    const { calls } = load;
    expectBounded(calls);
    const during = calls.filter((c) => c.startedAt > frozenAt && c.startedAt + c.ms < thawedAt);
    expect(during.length).toBeGreaterThan(3);
    expect(during.every((c) => !c.ok)).toBe(true);
    // One pipeline waits out the deadline and stays the probe (it may have started just before the
    // freeze, so look at every call that ended during it); the others do not queue behind it.
    const endedDuring = calls.filter((c) => c.startedAt + c.ms > frozenAt && c.startedAt + c.ms < thawedAt);
    expect(endedDuring.some((c) => !c.ok && c.ms >= 40)).toBe(true);
    expect(during.filter((c) => c.ms < 10).length).toBeGreaterThan(during.length / 2);
    expect(firstSuccessAfter(calls, thawedAt)).toBeLessThan(RECOVERY_MS);
  });

  test("Redis down from the start: calls reject fast; the store connects when Redis appears", async () => {
    const port = await freePort();
    store = createRedisLimitStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: uniquePrefix("late") });
    const load = hammer(store);
    await sleep(400);
    const startingAt = performance.now();
    server = await startRedisServer({ port });
    const upAt = performance.now();
    await sleep(1200);
    await load.stop();

    const { calls } = load;
    expectBounded(calls);
    // Judged up to the start, not upAt: upAt follows the harness's own ping, and the store may connect first.
    expect(calls.filter((c) => c.startedAt + c.ms < startingAt && c.ok).map((c) => `ok after ${Math.round(c.ms)} ms`)).toEqual([]);
    expect(firstSuccessAfter(calls, upAt)).toBeLessThan(RECOVERY_MS);
  });
});

describe("bounded failure on Redis Cluster", () => {
  test("a master killed: calls reject fast with limit_store_unavailable, the other slots keep working, and service returns", async () => {
    cluster = await startRedisCluster();
    store = createRedisLimitStore({ url: cluster.url, keyPrefix: uniquePrefix("cluster-outage"), commandTimeoutMs: ROOMY_TIMEOUT_MS });
    await store.waitUntilReady(3000);
    const load = hammer(store, Array.from({ length: 12 }, (_, i) => `tag-${i}`));
    await sleep(300);
    const killedAt = performance.now();
    await cluster.killNode(0);
    await sleep(800);
    await cluster.restartNode(0);
    const backAt = performance.now();
    await sleep(1500);
    await load.stop();

    const { calls } = load;
    expectBounded(calls, ROOMY_TIMEOUT_MS);
    const during = calls.filter((c) => c.startedAt > killedAt + 20 && c.startedAt + c.ms < backAt);
    expect(during.some((c) => !c.ok)).toBe(true);
    expect(during.some((c) => c.ok)).toBe(true);
    expect(calls.filter((c) => c.startedAt > backAt + RECOVERY_MS).every((c) => c.ok)).toBe(true);
  }, 40_000);
});

async function serverPid(port: number): Promise<number> {
  const { Redis } = await import("ioredis");
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
  try {
    await client.connect();
    const info = await client.info("server");
    const match = /process_id:(\d+)/.exec(info);
    if (match?.[1] === undefined) throw new Error("no process_id in INFO");
    return Number(match[1]);
  } finally {
    client.disconnect();
  }
}
