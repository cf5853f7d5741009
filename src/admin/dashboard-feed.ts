import type { Registry } from "prom-client";
import type { TenantUsage } from "../authz/usage.js";
import type { AdminContext, PolicyHistoryEntry } from "../status/context.js";
import type { LlmUsage } from "./llm-usage.js";
import { decisionTotals, metricSamples, rateLimitTotals, sumBy, type DecisionTotals, type RateLimitTotals } from "../observability/metric-values.js";

export interface RatePoint {
  /** Unix milliseconds at the end of the interval. */
  t: number;
  /** Per second over the interval. */
  allowed: number;
  denied: number;
  errors: number;
}

interface Sample {
  t: number;
  allowed: number;
  denied: number;
  errors: number;
}

/**
 * Samples the Check counters on a timer and keeps a short history of per-second rates, so a
 * page opened now already shows the last few minutes. Counts only; no labels beyond result.
 */
export class DecisionSampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly registry: Registry;
  private readonly keep: number;
  private readonly intervalMs: number;

  constructor(opts: { registry: Registry; intervalMs?: number; keep?: number }) {
    this.registry = opts.registry;
    this.intervalMs = opts.intervalMs ?? 2000;
    this.keep = opts.keep ?? 150;
  }

  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async sample(now = Date.now()): Promise<void> {
    const totals = await decisionTotals(this.registry);
    this.samples.push({ t: now, allowed: totals.allowed, denied: totals.denied, errors: totals.errors });
    if (this.samples.length > this.keep + 1) this.samples.shift();
  }

  rates(): RatePoint[] {
    const out: RatePoint[] = [];
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1]!;
      const b = this.samples[i]!;
      const secs = Math.max((b.t - a.t) / 1000, 0.001);
      const rate = (x: number, y: number) => Math.round((Math.max(0, y - x) / secs) * 100) / 100;
      out.push({ t: b.t, allowed: rate(a.allowed, b.allowed), denied: rate(a.denied, b.denied), errors: rate(a.errors, b.errors) });
    }
    return out;
  }
}

export interface DashboardData {
  generatedAt: string;
  ready: boolean;
  activeRevision?: string;
  candidateRevision?: string;
  limitStore: { kind: string; state: string };
  rates: RatePoint[];
  totals: DecisionTotals;
  topDenyReasons: { reason: string; count: number }[];
  rateLimits: RateLimitTotals;
  tenants: TenantUsage[];
  /** Reconciled LLM responses (ext_proc): tokens reserved against used, per tenant and provider. */
  llmUsage: LlmUsage;
  timeline: PolicyHistoryEntry[];
  shadowDisagreements: Record<string, number>;
}

const TOP_REASONS = 8;
const TIMELINE = 50;

/** Everything the dashboard draws, in one JSON document. Counts, revision ids and tenant names only. */
export async function dashboardData(opts: { registry: Registry; sampler: DecisionSampler; context: AdminContext; llmUsage: () => Promise<LlmUsage> }): Promise<DashboardData> {
  const { registry, context } = opts;
  const [status, totals, rateLimits, shadow, tenants, history, llmUsage] = await Promise.all([
    context.status(),
    decisionTotals(registry),
    rateLimitTotals(registry),
    metricSamples(registry, "tollgate_shadow_disagreements_total"),
    context.usage(),
    context.history(),
    opts.llmUsage(),
  ]);
  const topDenyReasons = Object.entries(totals.byReason)
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, TOP_REASONS);
  return {
    generatedAt: new Date().toISOString(),
    ready: status.ready,
    ...(status.policy.activeRevision ? { activeRevision: status.policy.activeRevision } : {}),
    ...(status.policy.candidateRevision ? { candidateRevision: status.policy.candidateRevision } : {}),
    limitStore: { kind: status.limitStore.kind, state: status.limitStore.state },
    rates: opts.sampler.rates(),
    totals,
    topDenyReasons,
    rateLimits,
    tenants,
    llmUsage,
    timeline: history.slice(0, TIMELINE),
    shadowDisagreements: sumBy(shadow, "kind"),
  };
}
