/** How a counter admits hits. fixed_window is envoyproxy/ratelimit's; the others are tollgate extensions. */
export type Algorithm = "fixed_window" | "sliding_window" | "token_bucket";

/** What a limit does when its store cannot be reached. */
export type FailureMode = "allow" | "deny";

export interface LimitRequest {
  /** Counter identity, unique per limit (the store adds its prefix, hash tag and window). */
  key: string;
  /** Requests (or cost units) admitted per window; 0 blocks everything. */
  limit: number;
  windowSeconds: number;
  /** Cost of this request; 0 only reads the counter. */
  hits: number;
  algorithm: Algorithm;
}

export interface LimitOutcome {
  over: boolean;
  /** Units left in the window after this request (never negative). */
  remaining: number;
  /**
   * fixed_window: seconds until the window ends. sliding_window: until the current window ends, or
   * when over, until this request would fit. token_bucket: until the bucket is full again, or when
   * over, until this request would fit. See src/limits/memory/algorithms.ts for the exact rules.
   */
  resetSeconds: number;
}

export interface ApplyOptions {
  /** Groups the keys of one request into one Redis Cluster slot ({hashTag}). */
  hashTag: string;
  /**
   * When any limit of the request is over (already, or with this request's hits), the others are not
   * incremented, like envoyproxy/ratelimit's STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT: an over
   * fixed_window counter itself still counts (ratelimit increments it); sliding_window and
   * token_bucket never count refused hits anyway.
   */
  stopIncrementWhenOver?: boolean;
}

/**
 * A counter store. apply() handles all limits of one request atomically, in one round trip,
 * and returns one outcome per request in order. It rejects with a TollgateError
 * (code "limit_store_unavailable") when the backend cannot answer in time.
 */
export interface LimitStore {
  readonly kind: "memory" | "redis" | "redis-cluster";
  apply(requests: readonly LimitRequest[], options: ApplyOptions): Promise<LimitOutcome[]>;
  close(): Promise<void>;
}

export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
