import { MAX_UNITS } from "../limits/keys.js";
import type { LimitRequest } from "../limits/types.js";
import type { MatchedLimit } from "./matcher.js";
import { UNIT_SECONDS } from "./units.js";

export interface ApplyPlan {
  /** What goes to store.apply, one entry per distinct counter. */
  readonly requests: LimitRequest[];
  /** Per descriptor: index into requests, or undefined when the descriptor touches no counter. */
  readonly slots: (number | undefined)[];
}

/**
 * Turns matched limits into store requests. Descriptors that resolve to the same counter with the
 * same limit (Envoy may send one descriptor twice) become one request whose hits are summed:
 * ratelimit increments such a key twice; the store takes each counter once per apply().
 * A same-key descriptor with a different limit, unit or algorithm (only possible through limit
 * overrides) gets a counter of its own, suffixed with that variant.
 * With ownSlots, every counter is its own hash tag, so a Redis Cluster spreads a call's counters
 * over its nodes; without, they keep the call's tag (one slot, one atomic script).
 */
export function planApply(items: readonly { limit: MatchedLimit | undefined; hits: number }[], ownSlots = false): ApplyPlan {
  const requests: LimitRequest[] = [];
  const byKey = new Map<string, number>();
  const slots = items.map(({ limit, hits }) => {
    if (!limit || limit.unlimited || !limit.unit) return undefined;
    const base: LimitRequest = {
      key: limit.counterKey,
      limit: limit.requestsPerUnit,
      windowSeconds: UNIT_SECONDS[limit.unit],
      hits,
      algorithm: limit.algorithm,
    };
    if (ownSlots) base.hashTag = base.key;
    const existing = byKey.get(base.key);
    if (existing !== undefined) {
      const prior = requests[existing];
      if (prior && sameVariant(prior, base)) {
        requests[existing] = { ...prior, hits: Math.min(MAX_UNITS, prior.hits + hits) };
        return existing;
      }
      const variantKey = `${base.key}~${limit.unit}~${base.limit}~${base.algorithm}`;
      const seen = byKey.get(variantKey);
      const again = seen === undefined ? undefined : requests[seen];
      if (seen !== undefined && again) {
        requests[seen] = { ...again, hits: Math.min(MAX_UNITS, again.hits + hits) };
        return seen;
      }
      requests.push(ownSlots ? { ...base, key: variantKey, hashTag: variantKey } : { ...base, key: variantKey });
      byKey.set(variantKey, requests.length - 1);
      return requests.length - 1;
    }
    requests.push(base);
    byKey.set(base.key, requests.length - 1);
    return requests.length - 1;
  });
  return { requests, slots };
}

function sameVariant(a: LimitRequest, b: LimitRequest): boolean {
  return a.limit === b.limit && a.windowSeconds === b.windowSeconds && a.algorithm === b.algorithm;
}
