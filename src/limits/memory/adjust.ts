import { windowStartSeconds, type ReconcileKeys } from "../keys.js";
import type { AdjustOutcome, ReservedCounter } from "../types.js";

/**
 * Reconcile arithmetic as pure functions. src/limits/redis/reconcile-lua.ts is the same, operation for
 * operation, so memory and Redis answer identically (test/limits/semantic-cases.ts checks it).
 *
 * An adjustment adds delta = actual − reserved to the counter the reservation was charged on:
 * - fixed_window / sliding_window: the count of the reservation's own window. While that window
 *   still counts admissions (fixed: it has not ended; sliding: it is the current or the previous
 *   window, where the delta then weighs in by the previous window's share, like the hits it
 *   corrects) the count becomes max(0, count + delta) and keeps its TTL. Once it no longer counts,
 *   nothing changes ("window_rolled"): the units were admitted under a window that is over, and
 *   moving them into the current one would either hand out credit it never charged (a refund) or
 *   charge it for work admitted under the old one (an extra charge).
 * - token_bucket: the TAT moves by delta × window / limit. A refund never fills the bucket past
 *   full (TAT not below now; a full bucket's key is deleted); a refund on a bucket that is full
 *   already (TAT not after now) finds nothing to return ("expired"); an extra charge starts from
 *   max(TAT, now) and may push the bucket into debt (the next request waits).
 * - A refund on a counter that no longer exists changes nothing ("expired"); an extra charge on a
 *   live window's missing counter creates it, expiring when that window stops counting.
 * - An extra charge may put a counter over its limit: the next admission is refused.
 */

/** What reconciling one counter writes to its target key. */
export type AdjustWrite =
  | { kind: "add"; amount: number }
  | { kind: "create"; value: number; ttlMs: number }
  | { kind: "set"; value: number; ttlMs: number }
  | { kind: "delete" };

export interface AdjustPlan {
  write: AdjustWrite | undefined;
  applied: boolean;
  reason?: AdjustOutcome["reason"];
}

export function planAdjustment(p: { counter: ReservedCounter; delta: number; keys: ReconcileKeys; stored: number | undefined; nowMs: number }): AdjustPlan {
  const { counter, delta, keys, stored, nowMs } = p;
  if (counter.algorithm === "token_bucket") return planTokenBucket(counter, delta, stored, nowMs);
  if (!keys.live) return { write: undefined, applied: false, reason: "window_rolled" };
  if (delta === 0) return { write: undefined, applied: true };
  if (stored === undefined) {
    if (delta < 0) return { write: undefined, applied: false, reason: "expired" };
    return { write: { kind: "create", value: delta, ttlMs: Math.max(1, keys.targetEndMs - nowMs) }, applied: true };
  }
  return { write: { kind: "add", amount: Math.max(0, stored + delta) - stored }, applied: true };
}

function planTokenBucket(counter: ReservedCounter, delta: number, stored: number | undefined, nowMs: number): AdjustPlan {
  if (delta === 0) return { write: undefined, applied: true };
  const windowMs = counter.windowSeconds * 1000;
  const shift = (delta * windowMs) / counter.limit;
  // A TAT not after now is a full bucket, whether or not its key has expired yet.
  if (stored === undefined || stored <= nowMs) {
    if (delta < 0) return { write: undefined, applied: false, reason: "expired" };
    const tat = nowMs + shift;
    return { write: { kind: "set", value: tat, ttlMs: Math.max(1, Math.ceil(tat - nowMs)) }, applied: true };
  }
  const tat = stored + shift;
  if (tat <= nowMs) return { write: { kind: "delete" }, applied: true };
  return { write: { kind: "set", value: tat, ttlMs: Math.max(1, Math.ceil(tat - nowMs)) }, applied: true };
}

/** Units an admission at nowMs would find left, from the keys it reads (after the adjustment). */
export function remainingNow(p: { counter: ReservedCounter; current: number | undefined; previous: number | undefined; nowMs: number }): number {
  const { counter, current, previous, nowMs } = p;
  const windowMs = counter.windowSeconds * 1000;
  switch (counter.algorithm) {
    case "fixed_window":
      return Math.max(0, counter.limit - (current ?? 0));
    case "sliding_window": {
      const elapsedMs = nowMs - windowStartSeconds(nowMs, counter.windowSeconds) * 1000;
      const used = (current ?? 0) + Math.floor(((previous ?? 0) * (windowMs - elapsedMs)) / windowMs);
      return Math.max(0, counter.limit - used);
    }
    case "token_bucket": {
      const tat = Math.max(current ?? nowMs, nowMs);
      return Math.min(counter.limit, Math.max(0, Math.floor(((nowMs + windowMs - tat) * counter.limit) / windowMs)));
    }
  }
}
