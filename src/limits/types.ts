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
  /**
   * The Redis Cluster slot group of this counter; default ApplyOptions.hashTag. Counters of one tag
   * share a slot and are applied in one atomic script; counters of different tags are applied in one
   * script per tag (one pipeline per node), each atomic on its own. A tag equal to the key makes the
   * counter its own slot group (see counterKeys).
   */
  hashTag?: string;
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
  /** The hash tag of every request that names none: groups their keys into one Redis Cluster slot ({hashTag}). */
  hashTag: string;
  /**
   * When any limit of the request is over (already, or with this request's hits), the others are not
   * incremented, like envoyproxy/ratelimit's STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT: an over
   * fixed_window counter itself still counts (ratelimit increments it); sliding_window and
   * token_bucket never count refused hits anyway. Couples counters only within one script, so
   * apply() refuses it for requests of more than one hash tag.
   */
  stopIncrementWhenOver?: boolean;
  /** The instant to apply at, in epoch ms; default the store's clock. A caller that records which
   *  window it was counted in (a reservation) passes it, so the window it records is the one counted. */
  nowMs?: number;
}

/**
 * One counter a request was charged on, as a reservation records it (src/limits/reservation.ts):
 * enough to find the same counter again from any replica and adjust it.
 */
export interface ReservedCounter {
  /** The policy limit's name. */
  name: string;
  /** The counter key exactly as applied (policyCounterKey), without the store's prefix and hash tag. */
  key: string;
  /** The hash tag the counter was applied with. */
  hashTag: string;
  algorithm: Algorithm;
  windowSeconds: number;
  /** Start of the window the reservation was counted in (token_bucket: the instant of admission). */
  windowStartMs: number;
  limit: number;
  /** Units charged at admission (the limit's cost; 0 when nothing was counted). */
  reserved: number;
  /** The policy allows stopping a stream that crosses this limit. */
  streamStop: boolean;
}

export interface Adjustment {
  counter: ReservedCounter;
  /** actual − reserved: negative refunds, positive charges extra. At least −reserved. */
  delta: number;
}

export interface AdjustOutcome {
  /**
   * Whether the counter was changed as asked (a refund clamped at zero, or at a full token bucket,
   * counts as applied). Not applied: "window_rolled" — the reservation's window no longer counts
   * admissions; "expired" — a refund found no counter left to refund (see docs/policy-limits.md).
   */
  applied: boolean;
  reason?: "window_rolled" | "expired";
  /** Units left now, after the adjustment, as the next admission would see them (never negative). */
  remaining: number;
}

/** How long a store remembers a reconcile's `once` id: far longer than any retry waits. */
export const RECONCILE_ONCE_TTL_MS = 60_000;

export interface ReconcileOptions {
  /**
   * Applies the adjustments at most once per id (a reservation's decision_id, without '{' or '}'):
   * the store records the id atomically with them, for RECONCILE_ONCE_TTL_MS, and a reconcile whose
   * id is recorded changes nothing and answers what the first one did. A caller may then retry
   * after a timeout, when it cannot know whether the first script ran.
   */
  once?: string;
}

/**
 * A counter store. apply() handles the limits of one hash tag atomically (all limits, when they
 * share one), in one round trip per Redis node, and returns one outcome per request in order. It rejects with a TollgateError
 * (code "limit_store_unavailable") when the backend cannot answer in time.
 */
export interface LimitStore {
  readonly kind: "memory" | "redis" | "redis-cluster";
  apply(requests: readonly LimitRequest[], options: ApplyOptions): Promise<LimitOutcome[]>;
  /**
   * Adjusts reserved counters by actual − reserved, atomically and in one round trip per hash tag
   * (one for a reservation: its counters share one). One outcome per adjustment, in order. Rejects
   * with config_error for bad adjustments (nothing changed) and limit_store_unavailable on an outage.
   */
  reconcile(adjustments: readonly Adjustment[], options?: ReconcileOptions): Promise<AdjustOutcome[]>;
  /** Units left now on each counter, read-only (a reconcile with delta 0). */
  peek(counters: readonly ReservedCounter[]): Promise<number[]>;
  close(): Promise<void>;
}

export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
