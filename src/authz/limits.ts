import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { warnThrottled } from "../observability/log-throttle.js";
import { MAX_UNITS, MAX_WINDOW_SECONDS, windowStartSeconds } from "../limits/keys.js";
import type { LimitOutcome, LimitStore, ReservedCounter } from "../limits/types.js";
import { DEFAULT_HEADER_NAMES, type HeaderNames } from "../limits/headers.js";
import type { Pair, PolicyLimit } from "./decision.js";

export interface LimitVerdict {
  /**
   * "over" denies with 429; "unavailable" denies with 503 (a fail-closed limit met a store outage);
   * "shed" denies with 503 too: the store had no room for the call, so nothing was counted.
   */
  result: "ok" | "over" | "unavailable" | "shed";
  /** The store was unavailable and every limit's failure_mode let the request through. */
  failedOpen: boolean;
  headers: Pair[];
  retryAfterSeconds: number;
  /** Per-limit usage for dynamic_metadata: name → { limit, remaining, reset } */
  usage: Record<string, { limit: number; remaining: number; reset_seconds: number; over: boolean }>;
  /** What was charged on the limits marked reconcile: true, for the reservation handle; empty unless result is "ok" and counted. */
  reserved: ReservedCounter[];
}

/** The hash tag of policy counters declared without a partition: on Redis Cluster they share one slot. */
export const POLICY_HASH_TAG = "policy";

/**
 * The hash tag of a policy counter: its partition (the tenant, say) under "policy:", so on Redis
 * Cluster the partitions spread over the nodes. The partition is part of the counter's identity,
 * never taken from the other limits of the decision: a limit shared by several partitions (a
 * global cap) must name the same partition, or none, wherever it is declared.
 */
export function policyHashTag(limit: Pick<PolicyLimit, "partition">): string {
  return limit.partition === undefined ? POLICY_HASH_TAG : `${POLICY_HASH_TAG}:${limit.partition}`;
}

/**
 * The store key of a policy limit. The window is part of it: fixed-window keys otherwise end only in
 * the window start, which a minute and an hour window of the same key share at every full hour.
 */
export function policyCounterKey(limit: Pick<PolicyLimit, "key" | "windowSeconds">): string {
  return `${limit.windowSeconds}s:${limit.key}`;
}

function invalid(message: string): never {
  throw new TollgateError("decision_error", message);
}

/** What the store would refuse, reported as the policy's mistake instead of a store failure. */
function checkLimits(limits: readonly PolicyLimit[]): void {
  const counters = new Map<string, number>();
  const names = new Map<string, number>();
  limits.forEach((l, i) => {
    if (l.limit > MAX_UNITS) invalid(`limits[${i}].limit ${l.limit} is above the maximum ${MAX_UNITS}`);
    if (l.cost > MAX_UNITS) invalid(`limits[${i}].cost ${l.cost} is above the maximum ${MAX_UNITS}`);
    if (l.windowSeconds > MAX_WINDOW_SECONDS) invalid(`limits[${i}].window ${l.windowSeconds} is above the maximum ${MAX_WINDOW_SECONDS} seconds`);
    const counter = `${l.algorithm} ${policyHashTag(l)} ${policyCounterKey(l)}`;
    const sameCounter = counters.get(counter);
    if (sameCounter !== undefined) invalid(`limits[${i}] repeats limits[${sameCounter}]: same key, window, algorithm and partition`);
    counters.set(counter, i);
    const sameName = names.get(l.name);
    if (sameName !== undefined) invalid(`limits[${i}] has the same name ${JSON.stringify(l.name)} as limits[${sameName}]; give each limit its own name`);
    names.set(l.name, i);
  });
}

/**
 * Applies the limits a policy declared, all in one store round trip. Shadow limits are counted
 * and reported but never deny. On a store outage each limit follows its failure_mode. Throws
 * TollgateError("decision_error") for limits the store cannot take (too large, repeated).
 */
export async function applyPolicyLimits(opts: { store: LimitStore; limits: readonly PolicyLimit[]; logger: Logger; headerNames?: HeaderNames; nowMs?: number }): Promise<LimitVerdict> {
  const { store, limits, logger } = opts;
  const names = opts.headerNames ?? DEFAULT_HEADER_NAMES;
  checkLimits(limits);
  // The instant is fixed here, so the window a reservation records is the one the store counted in.
  const nowMs = Math.floor(opts.nowMs ?? Date.now());
  let outcomes: LimitOutcome[];
  try {
    outcomes = await store.apply(
      limits.map((l) => ({ key: policyCounterKey(l), limit: l.limit, windowSeconds: l.windowSeconds, hits: l.cost, algorithm: l.algorithm, hashTag: policyHashTag(l) })),
      { hashTag: POLICY_HASH_TAG, nowMs },
    );
  } catch (err) {
    const e = TollgateError.from(err);
    // Shed calls were never counted: allowing them would be the uncounted allow a burst must not cause.
    if (e.code === "overloaded") return { result: "shed", failedOpen: false, headers: [[names.retryAfter, "1"]], retryAfterSeconds: 1, usage: {}, reserved: [] };
    // Only an outage follows failure_mode; any other failure is a fault to report, not to wave through.
    if (e.code !== "limit_store_unavailable") throw e;
    const failClosed = limits.some((l) => l.failureMode === "deny" && !l.shadow);
    const failureMode = failClosed ? "deny" : "allow";
    warnThrottled(logger, `limit_store_unavailable:${failureMode}`, { event: "limit_store_unavailable", error: e.message, failure_mode: failureMode }, "limit store unavailable");
    return { result: failClosed ? "unavailable" : "ok", failedOpen: !failClosed, headers: [], retryAfterSeconds: 1, usage: {}, reserved: [] };
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
    if (enforced && (!binding || binds({ limit, outcome }, binding))) binding = { limit, outcome };
  });

  const headers: Pair[] = [];
  let retryAfterSeconds = 0;
  if (binding) {
    const reset = Math.max(0, Math.ceil(binding.outcome.resetSeconds));
    headers.push([names.limit, String(binding.limit.limit)], [names.remaining, String(binding.outcome.remaining)], [names.reset, String(reset)]);
    if (over) {
      retryAfterSeconds = Math.max(1, reset);
      headers.push([names.retryAfter, String(retryAfterSeconds)]);
    }
  }
  const reserved = over ? [] : reservedCounters(limits, outcomes, nowMs);
  return { result: over ? "over" : "ok", failedOpen: false, headers, retryAfterSeconds, usage, reserved };
}

/**
 * The counters of the limits marked reconcile: true, with what the store really charged: the cost,
 * or 0 for an over shadow limit whose sliding_window or token_bucket refused the hits (a fixed
 * window counts them anyway). A token bucket of limit 0 holds nothing to reconcile and is left out.
 */
function reservedCounters(limits: readonly PolicyLimit[], outcomes: readonly LimitOutcome[], nowMs: number): ReservedCounter[] {
  const reserved: ReservedCounter[] = [];
  limits.forEach((l, i) => {
    if (!l.reconcile || (l.algorithm === "token_bucket" && l.limit === 0)) return;
    const counted = !outcomes[i]!.over || l.algorithm === "fixed_window";
    reserved.push({
      name: l.name,
      key: policyCounterKey(l),
      hashTag: policyHashTag(l),
      algorithm: l.algorithm,
      windowSeconds: l.windowSeconds,
      windowStartMs: l.algorithm === "token_bucket" ? nowMs : windowStartSeconds(nowMs, l.windowSeconds) * 1000,
      limit: l.limit,
      reserved: counted ? l.cost : 0,
      streamStop: l.streamStop,
    });
  });
  return reserved;
}

/**
 * Whether `a` should describe the request in the headers instead of `b`: an over limit beats one
 * that is not; among over limits the longest wait wins (Retry-After must not send the client back
 * before every over limit has reset); otherwise the smallest share left, since limits count
 * different things (requests, tokens).
 */
function binds(a: { limit: PolicyLimit; outcome: LimitOutcome }, b: { limit: PolicyLimit; outcome: LimitOutcome }): boolean {
  if (a.outcome.over !== b.outcome.over) return a.outcome.over;
  if (a.outcome.over) return a.outcome.resetSeconds > b.outcome.resetSeconds;
  const share = (x: { limit: PolicyLimit; outcome: LimitOutcome }) => (x.limit.limit === 0 ? 0 : x.outcome.remaining / x.limit.limit);
  return share(a) < share(b);
}
