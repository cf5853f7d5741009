import type { HeaderValue } from "../gen/envoy/config/core/v3/base.js";
import { RateLimitResponse_Code, type RateLimitResponse_DescriptorStatus } from "../gen/envoy/service/ratelimit/v3/rls.js";

/**
 * Header names. The defaults are envoyproxy/ratelimit's (LIMIT_LIMIT_HEADER & co.: RateLimit-Limit,
 * RateLimit-Remaining, RateLimit-Reset, values are plain numbers). They differ from the X-RateLimit-*
 * headers Envoy's own filter adds with enable_x_ratelimit_headers (draft 03, where X-RateLimit-Limit
 * also lists quota policies such as `10, 10;w=60`). Retry-After is a tollgate addition: ratelimit
 * never sends it; tollgate adds it only when the overall code is OVER_LIMIT.
 */
export interface HeaderNames {
  limit: string;
  remaining: string;
  reset: string;
  retryAfter: string;
}

/** The one definition of the defaults (settings.rateLimitHeaderNames starts from it), lower-cased as HTTP/2 carries them. */
export const DEFAULT_HEADER_NAMES: Readonly<HeaderNames> = {
  limit: "ratelimit-limit",
  remaining: "ratelimit-remaining",
  reset: "ratelimit-reset",
  retryAfter: "retry-after",
};

/** Shared by every header: the encoder only reads it. */
const NO_BYTES = Buffer.alloc(0);

function header(key: string, value: number): HeaderValue {
  return { key, value: String(value), rawValue: NO_BYTES };
}

function resetSeconds(status: RateLimitResponse_DescriptorStatus): number {
  const d = status.durationUntilReset;
  if (!d) return 0;
  return d.seconds + (d.nanos > 0 ? 1 : 0);
}

export interface HeaderArgs {
  statuses: readonly RateLimitResponse_DescriptorStatus[];
  /** Per status: whether it reflects a real counter (false for no limit, unlimited, or a store failure). */
  counted: readonly boolean[];
  /** Per status: whether it is in quota mode (quota over-limits do not force the choice). */
  quota: readonly boolean[];
  overallCode: RateLimitResponse_Code;
  names: HeaderNames;
}

/**
 * The headers describe one descriptor, chosen as ratelimit chooses: the one with the least
 * remaining, except that any non-quota OVER_LIMIT descriptor takes precedence (the last one wins).
 */
export function rateLimitHeaders(args: HeaderArgs): HeaderValue[] {
  let chosen: RateLimitResponse_DescriptorStatus | undefined;
  let least = Number.POSITIVE_INFINITY;
  args.statuses.forEach((s, i) => {
    if (!args.counted[i] || !s.currentLimit) return;
    if (s.limitRemaining < least) {
      chosen = s;
      least = s.limitRemaining;
    }
    if (s.code === RateLimitResponse_Code.OVER_LIMIT && !args.quota[i]) {
      chosen = s;
      least = 0;
    }
  });
  if (!chosen?.currentLimit) return [];
  const reset = resetSeconds(chosen);
  const out = [
    header(args.names.limit, chosen.currentLimit.requestsPerUnit),
    header(args.names.remaining, chosen.limitRemaining),
    header(args.names.reset, reset),
  ];
  if (args.overallCode === RateLimitResponse_Code.OVER_LIMIT) out.push(header(args.names.retryAfter, Math.max(1, reset)));
  return out;
}
