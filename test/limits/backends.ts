import { randomUUID } from "node:crypto";
import { MemoryLimitStore } from "../../src/limits/memory/memory-store.js";
import { createRedisLimitStore, type RedisLimitStore } from "../../src/limits/redis/redis-store.js";
import type { Clock, LimitStore } from "../../src/limits/types.js";

/** The shared Redis every engineer's tests may use (unique key prefixes keep them apart). */
export const SHARED_REDIS_URL = process.env["TOLLGATE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  constructor(public ms: number) {}
  nowMs(): number {
    return this.ms;
  }
}

/** A key prefix no other test run uses. */
export function uniquePrefix(label: string): string {
  return `test:${label}:${randomUUID().slice(0, 8)}:`;
}

export function memoryStore(clock: Clock): LimitStore {
  return new MemoryLimitStore({ clock });
}

/** A Redis store that is connected before it is returned. */
export async function connectedRedisStore(options: { url: string; clock: Clock; keyPrefix: string; commandTimeoutMs?: number }): Promise<RedisLimitStore> {
  const store = createRedisLimitStore({ ...options, commandTimeoutMs: options.commandTimeoutMs ?? 1000 });
  await store.waitUntilReady(5000);
  return store;
}
