import { fileURLToPath } from "node:url";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startRedisCluster, type RedisCluster } from "../support/redis-server.js";
import { forkWorker } from "../support/fork-worker.js";
import { SHARED_REDIS_URL, uniquePrefix } from "./backends.js";
import { T0 } from "./semantic-cases.js";

const WORKER = fileURLToPath(new URL("./fixtures/reserve-worker.ts", import.meta.url));
const PROCESSES = 4;
const REQUESTS_PER_PROCESS = 250;
/** Inside the hour that starts at T0 - 780 s (see semantic-cases.ts). */
const NOW = T0 + 10_000;

interface WorkerResult {
  actual: number;
  errors: string[];
}

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

describe.each([
  ["redis", () => SHARED_REDIS_URL],
  ["redis-cluster (3 masters)", () => cluster.url],
])("reserve + reconcile exactness on %s", (_name, url) => {
  test(
    `${PROCESSES} OS processes × ${REQUESTS_PER_PROCESS} concurrent reserve+reconcile leave every counter at exactly the sum of actual usage`,
    async () => {
      const prefix = uniquePrefix("reconcile-exact");
      const raw = url() === SHARED_REDIS_URL ? new Redis(SHARED_REDIS_URL) : new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
      const workers = Array.from({ length: PROCESSES }, () => forkWorker<WorkerResult>(WORKER, [url(), prefix, String(NOW), String(REQUESTS_PER_PROCESS)]));
      try {
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.child.send("go");
        const results = await Promise.all(workers.map((w) => w.result));
        expect(results.flatMap((r) => r.errors)).toEqual([]);
        const actual = results.reduce((sum, r) => sum + r.actual, 0);
        expect(actual).toBeGreaterThan(0);

        const hour = (T0 - 780_000) / 1000;
        expect(Number(await raw.get(`${prefix}{reconcile-exactness}:exact-fixed_window:${hour}`))).toBe(actual);
        expect(Number(await raw.get(`${prefix}{reconcile-exactness}:exact-sliding_window:${hour}:sw`))).toBe(actual);
        // One unit is 1 ms of TAT: the bucket's TAT is now + the units still charged, exactly.
        const tat = await raw.get(`${prefix}{reconcile-exactness}:exact-token_bucket:tb`);
        expect(tat === null ? NOW : Number(tat)).toBe(NOW + actual);
      } finally {
        for (const w of workers) w.child.kill();
        const keys = raw instanceof Cluster ? [] : await raw.keys(`${prefix}*`);
        if (keys.length > 0) await raw.del(...keys);
        raw.disconnect();
      }
    },
    60_000,
  );
});
