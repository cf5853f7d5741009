import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { createRedisLimitStore } from "../../src/limits/redis/redis-store.js";
import { RateLimitService } from "../../src/ratelimit/service.js";
import { freePort } from "../support/redis-server.js";
import { captureLogger, d, ManualClock, req, serviceConfig } from "./helpers.js";
import { describeServiceSemantics } from "./service-suite.js";

const REDIS_URL = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";

const RUN_PREFIX = `tollgate-test:rls:${randomUUID()}:`;

// The shared Redis; every store gets its own key prefix, so tests never see each other's counters.
describeServiceSemantics("Redis (shared, unique key prefix per test)", (clock) =>
  createRedisLimitStore({ url: REDIS_URL, keyPrefix: `${RUN_PREFIX}${randomUUID()}:`, clock, commandTimeoutMs: 2000 }),
);

afterAll(async () => {
  // Counters carry TTLs up to a week (WEEK limits); remove this run's keys from the shared Redis.
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${RUN_PREFIX}*`, "COUNT", 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
  await redis.quit();
});

describe("failure modes against a Redis that does not answer", () => {
  const stores: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it("allow answers OK, deny answers OVER_LIMIT, within the command timeout, logged and counted", async () => {
    const port = await freePort();
    const store = createRedisLimitStore({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 50, connectTimeoutMs: 50 });
    stores.push(store);
    const { logger, lines } = captureLogger();
    const config = serviceConfig();
    const modes: string[] = [];
    const service = new RateLimitService({ config: () => config, store, logger, clock: new ManualClock(), onFailureMode: (mode) => modes.push(mode) });

    const started = performance.now();
    const res = await service.shouldRateLimit(req([d([["user", "u"]]), d([["strict", "s"]]), d([["free", "f"]])]));
    const elapsed = performance.now() - started;

    expect(res.overallCode).toBe(Code.OVER_LIMIT);
    expect(res.statuses.map((s) => [s.code, s.currentLimit?.requestsPerUnit, s.limitRemaining])).toEqual([
      [Code.OK, 3, 0],
      [Code.OVER_LIMIT, 5, 0],
      [Code.OK, undefined, 4294967295],
    ]);
    expect(elapsed).toBeLessThan(1000);
    expect(modes.sort()).toEqual(["allow", "deny"]);
    expect(lines.find((l) => l["event"] === "limit_store_unavailable")).toMatchObject({
      reason: "limit_store_unavailable",
      store: "redis",
      descriptorsAllowed: 1,
      descriptorsDenied: 1,
    });

    const before = modes.length;
    const allowOnly = await service.shouldRateLimit(req([d([["user", "u"]]), d([["path", "/api/a"]])]));
    expect(allowOnly.overallCode).toBe(Code.OK);
    expect(modes.length).toBeGreaterThan(before);
    expect(modes.slice(before)).not.toContain("deny");
  });
});
