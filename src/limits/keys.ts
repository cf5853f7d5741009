import { TollgateError } from "../errors.js";
import type { Adjustment, Algorithm, ApplyOptions, LimitRequest, ReconcileOptions, ReservedCounter } from "./types.js";

/** Largest accepted limit and hits (Envoy's requests_per_unit is a uint32). */
export const MAX_UNITS = 4_294_967_295;
/** Largest accepted window: ten years, far above Envoy's YEAR unit. */
export const MAX_WINDOW_SECONDS = 315_360_000;
/** Most limits one apply() may carry. */
export const MAX_REQUESTS_PER_APPLY = 1024;

const ALGORITHMS: ReadonlySet<string> = new Set<Algorithm>(["fixed_window", "sliding_window", "token_bucket"]);

/**
 * The counter keys of one limit at one instant. Shapes (windowStart in epoch seconds):
 *   fixed_window    <prefix>{<hashTag>}:<key>:<windowStart>
 *   sliding_window  <prefix>{<hashTag>}:<key>:<windowStart>:sw  (current) and the same for the previous window
 *   token_bucket    <prefix>{<hashTag>}:<key>:tb
 * A counter whose hash tag is its key is its own slot group and drops the repeated key:
 * <prefix>{<key>}:<windowStart>, …:<windowStart>:sw, …:tb. A key is never empty, so these never meet
 * the shapes above under the same tag (those have at least two ':' after the tag).
 * The suffixes keep algorithms apart even when keys contain ':' (a fixed key always ends in digits).
 * `previous` equals `current` when the algorithm uses one key.
 */
export interface CounterKeys {
  current: string;
  previous: string;
}

/** Whole milliseconds; the stores and the Lua script work on integers. */
export function wholeMs(nowMs: number): number {
  return Math.floor(nowMs);
}

/** Start of the epoch-aligned window containing nowMs, in seconds (envoyproxy/ratelimit's cache key time). */
export function windowStartSeconds(nowMs: number, windowSeconds: number): number {
  const nowSeconds = Math.floor(nowMs / 1000);
  return nowSeconds - (nowSeconds % windowSeconds);
}

/**
 * `{` and `}` inside the tag would move the Redis Cluster hash-tag boundaries, so they are
 * percent-encoded (and `%` too, so the encoding stays one-to-one).
 */
export function encodeHashTag(hashTag: string): string {
  return HASH_TAG_SPECIALS.test(hashTag) ? hashTag.replace(/[%{}]/g, encodeSpecial) : hashTag;
}

const HASH_TAG_SPECIALS = /[%{}]/;

function encodeSpecial(c: string): string {
  return c === "%" ? "%25" : c === "{" ? "%7B" : "%7D";
}

export function counterKeys(options: { prefix: string; hashTag: string; request: LimitRequest; nowMs: number }): CounterKeys {
  const { prefix, request, nowMs } = options;
  const hashTag = request.hashTag ?? options.hashTag;
  const tag = `${prefix}{${encodeHashTag(hashTag)}}`;
  const base = hashTag === request.key ? tag : `${tag}:${request.key}`;
  switch (request.algorithm) {
    case "fixed_window": {
      const key = `${base}:${windowStartSeconds(nowMs, request.windowSeconds)}`;
      return { current: key, previous: key };
    }
    case "sliding_window": {
      const start = windowStartSeconds(nowMs, request.windowSeconds);
      return { current: `${base}:${start}:sw`, previous: `${base}:${start - request.windowSeconds}:sw` };
    }
    case "token_bucket": {
      const key = `${base}:tb`;
      return { current: key, previous: key };
    }
  }
}

function isWholeInRange(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

function invalid(message: string): TollgateError {
  return new TollgateError("config_error", `invalid limit request: ${message}`);
}

/** Checks what apply() received; throws TollgateError("config_error") naming the first bad field. */
export function validateApply(requests: readonly LimitRequest[], options: ApplyOptions): void {
  if (!Array.isArray(requests)) throw invalid("requests must be an array");
  if (requests.length > MAX_REQUESTS_PER_APPLY) {
    throw invalid(`${requests.length} limits in one request (at most ${MAX_REQUESTS_PER_APPLY})`);
  }
  if (typeof options !== "object" || options === null) throw invalid("options are required");
  if (typeof options.hashTag !== "string" || options.hashTag.length === 0) {
    throw invalid("hashTag must be a non-empty string");
  }
  if (options.stopIncrementWhenOver !== undefined && typeof options.stopIncrementWhenOver !== "boolean") {
    throw invalid("stopIncrementWhenOver must be a boolean");
  }
  if (options.nowMs !== undefined && !isWholeInRange(options.nowMs, 0, Number.MAX_SAFE_INTEGER)) {
    throw invalid("nowMs must be a non-negative integer of epoch milliseconds");
  }
  // Every call passes here: the field paths in messages are built only for a failure.
  for (let i = 0; i < requests.length; i++) {
    const r: LimitRequest | null | undefined = requests[i];
    if (typeof r !== "object" || r === null) throw invalid(`requests[${i}] must be an object`);
    if (typeof r.key !== "string" || r.key.length === 0) throw invalid(`requests[${i}].key must be a non-empty string`);
    if (!isWholeInRange(r.limit, 0, MAX_UNITS)) throw invalid(`requests[${i}].limit must be an integer in 0..${MAX_UNITS}`);
    if (!isWholeInRange(r.windowSeconds, 1, MAX_WINDOW_SECONDS)) {
      throw invalid(`requests[${i}].windowSeconds must be an integer in 1..${MAX_WINDOW_SECONDS}`);
    }
    if (!isWholeInRange(r.hits, 0, MAX_UNITS)) throw invalid(`requests[${i}].hits must be an integer in 0..${MAX_UNITS}`);
    if (typeof r.algorithm !== "string" || !ALGORITHMS.has(r.algorithm)) {
      throw invalid(`requests[${i}].algorithm must be one of fixed_window, sliding_window, token_bucket`);
    }
    if (r.hashTag !== undefined && (typeof r.hashTag !== "string" || r.hashTag.length === 0)) throw invalid(`requests[${i}].hashTag must be a non-empty string`);
  }
  if (options.stopIncrementWhenOver === true && requests.some((r) => (r.hashTag ?? options.hashTag) !== (requests[0]?.hashTag ?? options.hashTag))) {
    throw invalid("stopIncrementWhenOver needs every limit under one hash tag (it couples counters only within one atomic script)");
  }
}

/** Checks a Clock reading: a finite, non-negative number of milliseconds. */
export function checkedNow(nowMs: number): number {
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs) || nowMs < 0) {
    throw new TollgateError("internal_error", `clock returned an invalid time: ${String(nowMs)}`);
  }
  return wholeMs(nowMs);
}

/** The counter keys of every limit of one apply(); two limits sharing a counter are a config error. */
export function keysForApply(options: { prefix: string; hashTag: string; requests: readonly LimitRequest[]; nowMs: number }): CounterKeys[] {
  const seen = new Set<string>();
  return options.requests.map((request, i) => {
    const keys = counterKeys({ prefix: options.prefix, hashTag: options.hashTag, request, nowMs: options.nowMs });
    if (seen.has(keys.current)) {
      throw invalid(`requests[${i}] uses the same counter as an earlier limit (key "${request.key}"); keys must be unique per limit`);
    }
    seen.add(keys.current);
    return keys;
  });
}

/**
 * The keys one reconcile adjustment reads and writes, at nowMs:
 *   target    the counter the reservation was charged on (its own window's key)
 *   current   the key an admission at nowMs reads (sliding_window: with `previous`), for `remaining`
 * `live` is false when the reservation's window no longer counts admissions: fixed_window once its
 * window has ended; sliding_window once it is older than the previous window. A token bucket has
 * one key and is always live. `targetEndMs` is when the target stops counting (its TTL when a
 * charge creates it).
 */
export interface ReconcileKeys {
  target: string;
  current: string;
  previous: string;
  live: boolean;
  targetEndMs: number;
}

export function reconcileKeys(options: { prefix: string; counter: ReservedCounter; nowMs: number }): ReconcileKeys {
  const { prefix, counter, nowMs } = options;
  const request: LimitRequest = { key: counter.key, limit: counter.limit, windowSeconds: counter.windowSeconds, hits: 0, algorithm: counter.algorithm };
  const now = counterKeys({ prefix, hashTag: counter.hashTag, request, nowMs });
  const windowMs = counter.windowSeconds * 1000;
  const reservedStartMs = counter.windowStartMs;
  const currentStartMs = windowStartSeconds(nowMs, counter.windowSeconds) * 1000;
  switch (counter.algorithm) {
    case "fixed_window": {
      const target = counterKeys({ prefix, hashTag: counter.hashTag, request, nowMs: reservedStartMs }).current;
      // A window ahead of ours (another replica's clock runs ahead) still counts: it is about to begin.
      return { target, current: now.current, previous: now.current, live: reservedStartMs >= currentStartMs, targetEndMs: reservedStartMs + windowMs };
    }
    case "sliding_window": {
      const target = counterKeys({ prefix, hashTag: counter.hashTag, request, nowMs: reservedStartMs }).current;
      return { target, current: now.current, previous: now.previous, live: reservedStartMs >= currentStartMs - windowMs, targetEndMs: reservedStartMs + 2 * windowMs };
    }
    case "token_bucket":
      return { target: now.current, current: now.current, previous: now.current, live: true, targetEndMs: nowMs };
  }
}

function checkCounter(c: ReservedCounter | null | undefined, at: string): void {
  if (typeof c !== "object" || c === null) throw invalid(`${at} must be an object`);
  if (typeof c.key !== "string" || c.key.length === 0) throw invalid(`${at}.key must be a non-empty string`);
  if (typeof c.hashTag !== "string" || c.hashTag.length === 0) throw invalid(`${at}.hashTag must be a non-empty string`);
  if (typeof c.algorithm !== "string" || !ALGORITHMS.has(c.algorithm)) {
    throw invalid(`${at}.algorithm must be one of fixed_window, sliding_window, token_bucket`);
  }
  if (!isWholeInRange(c.limit, 0, MAX_UNITS)) throw invalid(`${at}.limit must be an integer in 0..${MAX_UNITS}`);
  if (c.algorithm === "token_bucket" && c.limit === 0) throw invalid(`${at}: a token bucket with limit 0 holds nothing to reconcile`);
  if (!isWholeInRange(c.windowSeconds, 1, MAX_WINDOW_SECONDS)) {
    throw invalid(`${at}.windowSeconds must be an integer in 1..${MAX_WINDOW_SECONDS}`);
  }
  if (!isWholeInRange(c.windowStartMs, 0, Number.MAX_SAFE_INTEGER)) throw invalid(`${at}.windowStartMs must be a non-negative integer`);
  if (c.algorithm !== "token_bucket" && c.windowStartMs % (c.windowSeconds * 1000) !== 0) {
    throw invalid(`${at}.windowStartMs ${c.windowStartMs} is not the start of a ${c.windowSeconds} s window`);
  }
  if (!isWholeInRange(c.reserved, 0, MAX_UNITS)) throw invalid(`${at}.reserved must be an integer in 0..${MAX_UNITS}`);
}

/**
 * Checks what reconcile() received; throws TollgateError("config_error") naming the first bad field.
 * Several adjustments of one counter are allowed (reconciling several responses at once): they apply in order.
 */
export function validateAdjustments(adjustments: readonly Adjustment[], options: ReconcileOptions = {}): void {
  if (!Array.isArray(adjustments)) throw invalid("adjustments must be an array");
  const once: unknown = options.once;
  if (once !== undefined && !(typeof once === "string" && /^[^{}]{1,128}$/.test(once))) throw invalid("once must be 1-128 characters without '{' or '}'");
  if (adjustments.length > MAX_REQUESTS_PER_APPLY) {
    throw invalid(`${adjustments.length} adjustments in one reconcile (at most ${MAX_REQUESTS_PER_APPLY})`);
  }
  adjustments.forEach((a: Adjustment | null | undefined, i) => {
    const at = `adjustments[${i}]`;
    if (typeof a !== "object" || a === null) throw invalid(`${at} must be an object`);
    checkCounter(a.counter, `${at}.counter`);
    const c = a.counter;
    if (!isWholeInRange(a.delta, -c.reserved, MAX_UNITS)) {
      throw invalid(`${at}.delta must be an integer in -reserved..${MAX_UNITS} (a refund cannot exceed the reservation), got ${String(a.delta)}`);
    }
  });
}
