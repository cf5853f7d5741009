import type { PolicyLimit } from "./decision.js";
import type { LimitVerdict } from "./limits.js";

export interface UsageLimit {
  /** The limit's name as the policy or rate-limit config declares it. */
  name: string;
  unit: "requests" | "tokens";
  used: number;
  limit: number;
  windowSeconds: number;
  resetSeconds?: number;
}

export interface TenantUsage {
  tenant: string;
  limits: UsageLimit[];
}

const MAX_TENANTS = 1000;

interface Seen {
  limit: PolicyLimit;
  remaining: number;
  resetAtMs: number;
}

/**
 * The latest known usage of each tenant's policy limits, as the last Check saw it: no extra store
 * reads. Bounded to MAX_TENANTS (least recently seen dropped). A window that has since ended
 * reads as unused. Tenants come from the decision's dynamic_metadata.tenant.
 */
export class UsageTracker {
  private readonly tenants = new Map<string, Map<string, Seen>>();

  record(tenant: string, limits: readonly PolicyLimit[], verdict: LimitVerdict, nowMs = Date.now()): void {
    let seen = this.tenants.get(tenant);
    if (seen) this.tenants.delete(tenant);
    else seen = new Map();
    this.tenants.set(tenant, seen);
    if (this.tenants.size > MAX_TENANTS) this.tenants.delete(this.tenants.keys().next().value!);
    for (const limit of limits) {
      const u = verdict.usage[limit.name];
      if (u) seen.set(limit.name, { limit, remaining: u.remaining, resetAtMs: nowMs + u.reset_seconds * 1000 });
    }
  }

  snapshot(nowMs = Date.now()): TenantUsage[] {
    return [...this.tenants].map(([tenant, seen]) => ({
      tenant,
      limits: [...seen.values()].map(({ limit, remaining, resetAtMs }) => {
        const live = resetAtMs > nowMs;
        return {
          name: limit.name,
          unit: /token/i.test(limit.name) ? ("tokens" as const) : ("requests" as const),
          used: live ? limit.limit - remaining : 0,
          limit: limit.limit,
          windowSeconds: limit.windowSeconds,
          ...(live ? { resetSeconds: Math.ceil((resetAtMs - nowMs) / 1000) } : {}),
        };
      }),
    }));
  }
}
