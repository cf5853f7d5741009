import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, describe, expect, test } from "vitest";
import type { Algorithm } from "../../src/limits/types.js";
import { forkWorker } from "../support/fork-worker.js";
import { SHARED_REDIS_URL, uniquePrefix } from "./backends.js";
import { T0 } from "./semantic-cases.js";

const WORKER = fileURLToPath(new URL("./fixtures/hit-worker.ts", import.meta.url));
const PROCESSES = 4;
const HITS_PER_PROCESS = 500;

interface WorkerResult {
  admitted: number;
  over: number;
  errors: string[];
}

const raw = new Redis(SHARED_REDIS_URL);
const prefixes: string[] = [];
afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
  }
  raw.disconnect();
});

describe("exactness across processes", () => {
  test.each<[Algorithm, number]>([
    ["fixed_window", PROCESSES * HITS_PER_PROCESS],
    ["sliding_window", 500],
    ["token_bucket", T0 + 3_600_000],
  ])(
    "%s – 2,000 concurrent hits from 4 OS processes against limit 500 admit exactly 500",
    async (algorithm, stored) => {
      const prefix = uniquePrefix(`exact-${algorithm}`);
      prefixes.push(prefix);
      const workers = Array.from({ length: PROCESSES }, () =>
        forkWorker<WorkerResult>(WORKER, [SHARED_REDIS_URL, prefix, algorithm, String(T0), String(HITS_PER_PROCESS)]),
      );
      try {
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.child.send("go");
        const results = await Promise.all(workers.map((w) => w.result));

        expect(results.flatMap((r) => r.errors)).toEqual([]);
        expect(results.reduce((sum, r) => sum + r.admitted, 0)).toBe(500);
        expect(results.reduce((sum, r) => sum + r.over, 0)).toBe(1500);
        // fixed_window counts over hits too (envoyproxy/ratelimit); sliding_window only admitted ones;
        // the bucket's TAT moved by exactly 500 emission intervals (500 x 7.2 s).
        const keys = await raw.keys(`${prefix}*`);
        expect(keys).toHaveLength(1);
        expect(Number(await raw.get(keys[0] ?? ""))).toBe(stored);
      } finally {
        for (const w of workers) w.child.kill();
      }
    },
    30_000,
  );
});
