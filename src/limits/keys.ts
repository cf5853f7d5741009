import { TollgateError } from "../errors.js";
import type { Algorithm, ApplyOptions, LimitRequest } from "./types.js";

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
  return hashTag.replace(/[%{}]/g, (c) => (c === "%" ? "%25" : c === "{" ? "%7B" : "%7D"));
}

export function counterKeys(options: { prefix: string; hashTag: string; request: LimitRequest; nowMs: number }): CounterKeys {
  const { prefix, hashTag, request, nowMs } = options;
  const base = `${prefix}{${encodeHashTag(hashTag)}}:${request.key}`;
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
  requests.forEach((r: LimitRequest | null | undefined, i) => {
    const at = `requests[${i}]`;
    if (typeof r !== "object" || r === null) throw invalid(`${at} must be an object`);
    if (typeof r.key !== "string" || r.key.length === 0) throw invalid(`${at}.key must be a non-empty string`);
    if (!isWholeInRange(r.limit, 0, MAX_UNITS)) throw invalid(`${at}.limit must be an integer in 0..${MAX_UNITS}`);
    if (!isWholeInRange(r.windowSeconds, 1, MAX_WINDOW_SECONDS)) {
      throw invalid(`${at}.windowSeconds must be an integer in 1..${MAX_WINDOW_SECONDS}`);
    }
    if (!isWholeInRange(r.hits, 0, MAX_UNITS)) throw invalid(`${at}.hits must be an integer in 0..${MAX_UNITS}`);
    if (typeof r.algorithm !== "string" || !ALGORITHMS.has(r.algorithm)) {
      throw invalid(`${at}.algorithm must be one of fixed_window, sliding_window, token_bucket`);
    }
  });
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
