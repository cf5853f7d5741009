import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { LimitOutcome, LimitStore } from "../limits/types.js";
import type { Pair, PolicyLimit } from "./decision.js";

export interface LimitVerdict {
  /** "over" denies with 429; "unavailable" denies with 503 (a fail-closed limit met a store outage). */
  result: "ok" | "over" | "unavailable";
  /** The store was unavailable and every limit's failure_mode let the request through. */
  failedOpen: boolean;
  headers: Pair[];
  retryAfterSeconds: number;
  /** Per-limit usage for dynamic_metadata: name → { limit, remaining, reset } */
  usage: Record<string, { limit: number; remaining: number; reset_seconds: number; over: boolean }>;
}

export interface HeaderNames {
  limit: string;
  remaining: string;
  reset: string;
}

export const DEFAULT_HEADER_NAMES: HeaderNames = { limit: "ratelimit-limit", remaining: "ratelimit-remaining", reset: "ratelimit-reset" };

/**
 * Applies the limits a policy declared, all in one store round trip. Shadow limits are counted
 * and reported but never deny. On a store outage each limit follows its failure_mode.
 */
export async function applyPolicyLimits(opts: { store: LimitStore; limits: readonly PolicyLimit[]; logger: Logger; headerNames?: HeaderNames }): Promise<LimitVerdict> {
  const { store, limits, logger } = opts;
  const names = opts.headerNames ?? DEFAULT_HEADER_NAMES;
  let outcomes: LimitOutcome[];
  try {
    outcomes = await store.apply(
      limits.map((l) => ({ key: l.key, limit: l.limit, windowSeconds: l.windowSeconds, hits: l.cost, algorithm: l.algorithm })),
      { hashTag: limits[0]!.key },
    );
  } catch (err) {
    const e = TollgateError.from(err, "limit_store_unavailable");
    const failClosed = limits.some((l) => l.failureMode === "deny" && !l.shadow);
    logger.warn({ event: "limit_store_unavailable", error: e.message, failure_mode: failClosed ? "deny" : "allow" }, "limit store unavailable");
    return { result: failClosed ? "unavailable" : "ok", failedOpen: !failClosed, headers: [], retryAfterSeconds: 1, usage: {} };
  }

  const usage: LimitVerdict["usage"] = {};
  let binding: { limit: PolicyLimit; outcome: LimitOutcome } | undefined;
  let over = false;
  limits.forEach((limit, i) => {
    const outcome = outcomes[i]!;
    usage[limit.name] = { limit: limit.limit, remaining: outcome.remaining, reset_seconds: outcome.resetSeconds, over: outcome.over };
    if (outcome.over && limit.shadow) logger.info({ event: "shadow_limit_over", limit: limit.name }, "shadow limit over");
    const enforced = !limit.shadow;
    if (enforced && outcome.over) over = true;
    // Limits count different things (requests, tokens), so compare the share left, not the count.
    const share = (o: LimitOutcome, l: PolicyLimit) => (l.limit === 0 ? 0 : o.remaining / l.limit);
    const tighter = !binding || (outcome.over && !binding.outcome.over) || (outcome.over === binding.outcome.over && share(outcome, limit) < share(binding.outcome, binding.limit));
    if (enforced && tighter) binding = { limit, outcome };
  });

  const headers: Pair[] = [];
  let retryAfterSeconds = 0;
  if (binding) {
    const reset = Math.max(0, Math.ceil(binding.outcome.resetSeconds));
    headers.push([names.limit, String(binding.limit.limit)], [names.remaining, String(binding.outcome.remaining)], [names.reset, String(reset)]);
    if (over) {
      retryAfterSeconds = Math.max(1, reset);
      headers.push(["retry-after", String(retryAfterSeconds)]);
    }
  }
  return { result: over ? "over" : "ok", failedOpen: false, headers, retryAfterSeconds, usage };
}
