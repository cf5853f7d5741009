import { windowStartSeconds } from "../keys.js";
import type { LimitOutcome, LimitRequest } from "../types.js";

/**
 * The three algorithms as pure functions. src/limits/redis/lua.ts is the same arithmetic in Lua,
 * operation for operation, so both stores answer identically (the shared test table checks it).
 *
 * fixed_window (envoyproxy/ratelimit): count += hits in an epoch-aligned window; over when the
 *   count after the hit exceeds limit; over hits still count; remaining = max(0, limit - count);
 *   resetSeconds = window - (nowSeconds % window).
 * sliding_window (two-window approximation): used = current + floor(previous * (W - e) / W), with W the
 *   window and e the time elapsed in the current window, both in ms. Over when used + hits > limit;
 *   rejected hits do not count. resetSeconds: admitted -> until the current window ends; over -> until
 *   the request would fit (at least 1); a request that can never fit (hits > limit) -> until the
 *   current window ends.
 * token_bucket (GCRA, rate = limit per window, burst = limit): the stored value is the theoretical
 *   arrival time (TAT, ms). tat = max(TAT, now); newTat = tat + hits * W / limit; over when
 *   newTat - W > now; rejected hits do not count. remaining = floor((now + W - tat') * limit / W).
 *   resetSeconds: admitted -> until the bucket is full again; over -> until the request would fit
 *   (at least 1); hits > limit -> the window length.
 */

/** What committing a decision writes to the request's current key. */
export interface Write {
  value: number;
  /** TTL in ms, applied when the key is created (counters) or on every write (`always`). */
  ttlMs: number;
  always: boolean;
}

export interface Decision {
  over: boolean;
  /** Whether this request, when committed, writes (false for hits 0). */
  write: Write | undefined;
  outcome(committed: boolean): LimitOutcome;
}

/** The stored values a decision reads; undefined when the key does not exist. */
export interface StoredValues {
  current: number | undefined;
  previous: number | undefined;
}

function ceilSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function decideFixed(r: LimitRequest, stored: StoredValues, nowMs: number): Decision {
  const before = stored.current ?? 0;
  const nowSeconds = Math.floor(nowMs / 1000);
  const resetSeconds = r.windowSeconds - (nowSeconds % r.windowSeconds);
  return {
    over: before + r.hits > r.limit,
    write: r.hits > 0 ? { value: before + r.hits, ttlMs: r.windowSeconds * 1000, always: false } : undefined,
    outcome: (committed) => {
      const count = committed ? before + r.hits : before;
      return { over: before + r.hits > r.limit, remaining: Math.max(0, r.limit - count), resetSeconds };
    },
  };
}

/** ms until floor(prev * m / W) <= allowed, with m the ms left in the window of `prev`; see the header. */
function slidingWaitMs(p: { prev: number; curr: number; need: number; windowMs: number; elapsedMs: number }): number {
  const { prev, curr, need, windowMs, elapsedMs } = p;
  if (curr <= need) {
    const maxLeft = Math.ceil(((need - curr + 1) * windowMs) / prev) - 1;
    return windowMs - maxLeft - elapsedMs;
  }
  const maxLeft = Math.ceil(((need + 1) * windowMs) / curr) - 1;
  return windowMs - elapsedMs + Math.max(0, windowMs - maxLeft);
}

function decideSliding(r: LimitRequest, stored: StoredValues, nowMs: number): Decision {
  const windowMs = r.windowSeconds * 1000;
  const elapsedMs = nowMs - windowStartSeconds(nowMs, r.windowSeconds) * 1000;
  const curr = stored.current ?? 0;
  const prev = stored.previous ?? 0;
  const used = curr + Math.floor((prev * (windowMs - elapsedMs)) / windowMs);
  const over = used + r.hits > r.limit;
  const untilWindowEnd = ceilSeconds(windowMs - elapsedMs);
  let resetSeconds = untilWindowEnd;
  if (over && r.hits <= r.limit) {
    const wait = slidingWaitMs({ prev, curr, need: r.limit - r.hits, windowMs, elapsedMs });
    resetSeconds = Math.max(1, ceilSeconds(wait));
  }
  return {
    over,
    write: r.hits > 0 ? { value: curr + r.hits, ttlMs: 2 * windowMs, always: false } : undefined,
    outcome: (committed) => ({
      over,
      remaining: Math.max(0, r.limit - (committed ? used + r.hits : used)),
      resetSeconds,
    }),
  };
}

function decideTokenBucket(r: LimitRequest, stored: StoredValues, nowMs: number): Decision {
  const windowMs = r.windowSeconds * 1000;
  const tat = Math.max(stored.current ?? nowMs, nowMs);
  const available = (at: number): number => Math.min(r.limit, Math.max(0, Math.floor(((nowMs + windowMs - at) * r.limit) / windowMs)));
  if (r.hits > r.limit) {
    return {
      over: true,
      write: undefined,
      outcome: () => ({ over: true, remaining: available(tat), resetSeconds: r.windowSeconds }),
    };
  }
  const newTat = r.hits > 0 ? tat + (r.hits * windowMs) / r.limit : tat;
  const allowAt = newTat - windowMs;
  const over = allowAt > nowMs;
  return {
    over,
    write: r.hits > 0 ? { value: newTat, ttlMs: Math.max(1, Math.ceil(newTat - nowMs)), always: true } : undefined,
    outcome: (committed) => {
      if (over) return { over, remaining: available(tat), resetSeconds: Math.max(1, ceilSeconds(allowAt - nowMs)) };
      const after = committed ? newTat : tat;
      return { over, remaining: available(after), resetSeconds: ceilSeconds(after - nowMs) };
    },
  };
}

export function decide(r: LimitRequest, stored: StoredValues, nowMs: number): Decision {
  switch (r.algorithm) {
    case "fixed_window":
      return decideFixed(r, stored, nowMs);
    case "sliding_window":
      return decideSliding(r, stored, nowMs);
    case "token_bucket":
      return decideTokenBucket(r, stored, nowMs);
  }
}

/**
 * Whether a request's hits are written. fixed_window counts over hits too, like envoyproxy/ratelimit;
 * the others never count a rejected request. With stopIncrementWhenOver and any request of the batch
 * over, only the over fixed_window counters still count (STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT).
 */
export function commits(p: { request: LimitRequest; decision: Decision; stop: boolean; anyOver: boolean }): boolean {
  const { request, decision, stop, anyOver } = p;
  if (decision.write === undefined) return false;
  if (request.algorithm === "fixed_window") return !stop || !anyOver || decision.over;
  return !decision.over && (!stop || !anyOver);
}
