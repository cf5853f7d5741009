import type { Logger } from "../observability/logger.js";
import { MemoryLimitStore } from "./memory/memory-store.js";
import { createRedisLimitStore } from "./redis/redis-store.js";
import type { LimitStore } from "./types.js";

/** Redis (or Redis Cluster) when a URL is configured, otherwise the embedded in-memory store. */
export function createLimitStore(settings: { redisUrl?: string | undefined; redisCommandTimeoutMs: number }, logger: Logger): LimitStore {
  if (!settings.redisUrl) return new MemoryLimitStore({});
  return createRedisLimitStore({ url: settings.redisUrl, commandTimeoutMs: settings.redisCommandTimeoutMs, logger });
}
