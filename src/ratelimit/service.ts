import type { Logger } from "pino";
import { warnThrottled } from "../observability/log-throttle.js";
import { TollgateError } from "../errors.js";
import {
  RateLimitResponse_Code,
  type RateLimitResponse,
  type RateLimitResponse_DescriptorStatus,
} from "../gen/envoy/service/ratelimit/v3/rls.js";
import { systemClock, type Clock, type FailureMode, type LimitOutcome, type LimitStore } from "../limits/types.js";
import { planApply } from "./apply-plan.js";
import type { RateLimitConfig } from "./config/types.js";
import { DEFAULT_HEADER_NAMES, rateLimitHeaders, type HeaderNames } from "../limits/headers.js";
import { MatchCache, type MatchedLimit } from "./matcher.js";
import { checkRequest, DEFAULT_REQUEST_BOUNDS, hitsAddends, type RateLimitRequestWithAddends, type RequestBounds } from "./request.js";
import { unitToProto } from "./units.js";

const MAX_UINT32 = 4_294_967_295;
/** Shared by every response: the encoder only reads it. */
const NO_BYTES = Buffer.alloc(0);

export interface RateLimitServiceOptions {
  /** The config to use for each call (e.g. `() => watcher.current()`); undefined means none is loaded yet. */
  config: () => RateLimitConfig | undefined;
  store: LimitStore;
  logger: Logger;
  clock?: Clock;
  /** Called for each descriptor answered by its failure_mode because the store was unavailable. */
  onFailureMode?: (mode: FailureMode) => void;
  /** ratelimit's STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT. Default false. */
  stopIncrementWhenOver?: boolean;
  /** ratelimit's global SHADOW_MODE: an OVER_LIMIT overall code is answered as OK. Default false. */
  shadowMode?: boolean;
  /** response_headers_to_add; see headers.ts for names and how they differ from Envoy's X-RateLimit-*. */
  headers?: { enabled: boolean; names?: Partial<HeaderNames> };
  bounds?: Partial<RequestBounds>;
}

interface Row {
  limit: MatchedLimit | undefined;
  unlimited: boolean;
  hits: number;
}

/** ShouldRateLimit with envoyproxy/ratelimit's semantics, on top of a LimitStore. */
export class RateLimitService {
  private readonly opts: RateLimitServiceOptions;
  private readonly clock: Clock;
  private readonly bounds: RequestBounds;
  private readonly headerNames: HeaderNames | undefined;
  private readonly matches = new MatchCache();

  constructor(opts: RateLimitServiceOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.bounds = { ...DEFAULT_REQUEST_BOUNDS, ...opts.bounds };
    this.headerNames = opts.headers?.enabled ? { ...DEFAULT_HEADER_NAMES, ...opts.headers.names } : undefined;
  }

  /**
   * Answers one request. Throws TollgateError: request_parse_error for a malformed or oversized
   * request, config_error when no config is loaded, and any store error other than
   * limit_store_unavailable (which is answered per descriptor through its failure_mode instead).
   */
  async shouldRateLimit(req: RateLimitRequestWithAddends): Promise<RateLimitResponse> {
    checkRequest(req, this.bounds);
    const config = this.opts.config();
    if (!config) {
      throw new TollgateError("config_error", "no rate limit configuration loaded");
    }
    const rows = this.resolve(req, config);
    // Descriptors are independent counters (as in envoyproxy/ratelimit), so each may live in its
    // own slot; only stopIncrementWhenOver couples them, and then they must share one atomic script.
    const stopIncrementWhenOver = this.opts.stopIncrementWhenOver ?? false;
    const plan = planApply(rows, !stopIncrementWhenOver);

    let outcomes: LimitOutcome[] = [];
    let failure: TollgateError | undefined;
    if (plan.requests.length > 0) {
      const started = this.clock.nowMs();
      try {
        outcomes = await this.opts.store.apply(plan.requests, { hashTag: req.domain, stopIncrementWhenOver });
      } catch (err: unknown) {
        failure = TollgateError.from(err);
        if (failure.code === "overloaded") {
          return shedResponse(req.descriptors.length, this.headerNames?.retryAfter);
        }
        if (failure.code !== "limit_store_unavailable") throw failure;
        this.onStoreFailure({ domain: req.domain, rows, failure, elapsedMs: this.clock.nowMs() - started });
      }
      if (!failure && outcomes.length !== plan.requests.length) {
        throw new TollgateError("internal_error", `limit store answered ${outcomes.length} outcomes for ${plan.requests.length} limits`);
      }
    }
    return this.respond({ rows, slots: plan.slots, outcomes, failed: failure !== undefined });
  }

  /** Matches every descriptor, then applies unlimited and replaces as ratelimit's constructLimitsToCheck. */
  private resolve(req: RateLimitRequestWithAddends, config: RateLimitConfig): Row[] {
    const hits = hitsAddends(req);
    const matched = req.descriptors.map((descriptor) => this.matches.match({ config, domain: req.domain, descriptor }));
    // Replaces are collected from every matched limit, unlimited ones included.
    const replacing = matched.some((m) => m !== undefined && m.replaces.length > 0) ? new Set(matched.flatMap((m) => m?.replaces ?? [])) : undefined;
    return matched.map((limit, i) => {
      const h = hits[i] ?? 1;
      if (limit?.unlimited) return { limit: undefined, unlimited: true, hits: h };
      if (limit && limit.name !== "" && replacing?.has(limit.name)) return { limit: undefined, unlimited: false, hits: h };
      return { limit, unlimited: false, hits: h };
    });
  }

  private respond(p: { rows: Row[]; slots: (number | undefined)[]; outcomes: LimitOutcome[]; failed: boolean }): RateLimitResponse {
    const counted: boolean[] = [];
    const quota: boolean[] = [];
    let failedRateLimit = 0;
    let failedQuota = 0;
    let totalQuota = 0;

    const statuses = p.rows.map((row, i): RateLimitResponse_DescriptorStatus => {
      counted.push(false);
      quota.push(row.limit?.quotaMode ?? false);
      if (row.unlimited) return status(RateLimitResponse_Code.OK, undefined, MAX_UINT32);
      const limit = row.limit;
      const slot = p.slots[i];
      if (!limit || !limit.unit || slot === undefined) return status(RateLimitResponse_Code.OK, undefined, 0);

      const current = { name: limit.name, requestsPerUnit: limit.requestsPerUnit, unit: unitToProto(limit.unit) };
      let s: RateLimitResponse_DescriptorStatus;
      const outcome = p.outcomes[slot];
      if (p.failed || !outcome) {
        const deny = limit.failureMode === "deny";
        this.opts.onFailureMode?.(limit.failureMode);
        s = status(deny ? RateLimitResponse_Code.OVER_LIMIT : RateLimitResponse_Code.OK, current, 0);
      } else {
        counted[i] = true;
        s = status(outcome.over ? RateLimitResponse_Code.OVER_LIMIT : RateLimitResponse_Code.OK, current, outcome.over ? 0 : outcome.remaining);
        s.durationUntilReset = toDuration(outcome.resetSeconds);
      }
      // As ratelimit's base limiter: a shadow_mode limit reports OK even when over (remaining stays 0).
      if (s.code === RateLimitResponse_Code.OVER_LIMIT && limit.shadowMode) {
        s.code = RateLimitResponse_Code.OK;
      }
      if (limit.quotaMode) totalQuota += 1;
      if (s.code === RateLimitResponse_Code.OVER_LIMIT) {
        if (limit.quotaMode) failedQuota += 1;
        else failedRateLimit += 1;
      }
      return s;
    });

    // OVER_LIMIT iff a rate limit descriptor is over, or every quota-mode descriptor is.
    let overallCode =
      failedRateLimit > 0 || (totalQuota > 0 && totalQuota === failedQuota) ? RateLimitResponse_Code.OVER_LIMIT : RateLimitResponse_Code.OK;
    if (overallCode === RateLimitResponse_Code.OVER_LIMIT && this.opts.shadowMode) {
      overallCode = RateLimitResponse_Code.OK;
    }

    const responseHeadersToAdd = this.headerNames ? rateLimitHeaders({ statuses, counted, quota, overallCode, names: this.headerNames }) : [];
    return {
      overallCode,
      statuses,
      responseHeadersToAdd,
      requestHeadersToAdd: [],
      rawBody: NO_BYTES,
      dynamicMetadata: undefined,
      quota: undefined,
    };
  }

  private onStoreFailure(p: { domain: string; rows: Row[]; failure: TollgateError; elapsedMs: number }): void {
    const limited = p.rows.filter((r) => r.limit !== undefined);
    const denied = limited.filter((r) => r.limit?.failureMode === "deny").length;
    warnThrottled(
      this.opts.logger,
      `limit_store_unavailable:${p.domain}`,
      {
        event: "limit_store_unavailable",
        reason: p.failure.code,
        domain: p.domain,
        store: this.opts.store.kind,
        descriptorsAllowed: limited.length - denied,
        descriptorsDenied: denied,
        elapsedMs: p.elapsedMs,
        err: p.failure.message,
      },
      "rate limit store unavailable; answering each descriptor by its failure_mode",
    );
  }
}

/**
 * The answer to a call shed under overload: OVER_LIMIT for every descriptor, so Envoy answers 429
 * whatever its failure_mode_deny. A gRPC error would let Envoy's default (failure_mode_deny false)
 * pass the request uncounted.
 */
export function shedResponse(descriptors: number, retryAfterHeader = DEFAULT_HEADER_NAMES.retryAfter): RateLimitResponse {
  return {
    overallCode: RateLimitResponse_Code.OVER_LIMIT,
    statuses: Array.from({ length: descriptors }, () => status(RateLimitResponse_Code.OVER_LIMIT, undefined, 0)),
    responseHeadersToAdd: [{ key: retryAfterHeader, value: "1", rawValue: Buffer.alloc(0) }],
    requestHeadersToAdd: [],
    rawBody: Buffer.alloc(0),
    dynamicMetadata: undefined,
    quota: undefined,
  };
}

function status(
  code: RateLimitResponse_Code,
  currentLimit: RateLimitResponse_DescriptorStatus["currentLimit"],
  limitRemaining: number,
): RateLimitResponse_DescriptorStatus {
  return { code, currentLimit, limitRemaining, durationUntilReset: undefined, quota: undefined };
}

function toDuration(seconds: number): { seconds: number; nanos: number } {
  const whole = Math.max(0, Math.floor(seconds));
  return { seconds: whole, nanos: Math.round((Math.max(0, seconds) - whole) * 1e9) };
}
