import type { Registry } from "prom-client";

export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

/** The current samples of one metric in the registry; [] when it is not registered. */
export async function metricSamples(registry: Registry, name: string): Promise<MetricSample[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  const data = await metric.get();
  return data.values.map((v) => ({
    labels: Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])),
    value: v.value,
  }));
}

/** Sums the samples of a metric by one label; samples without the label are skipped. */
export function sumBy(samples: MetricSample[], label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const key = s.labels[label];
    if (key !== undefined) out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

export interface DecisionTotals {
  allowed: number;
  denied: number;
  errors: number;
  /** Denials and errors by reason code (deny reasons from the policy, error codes from tollgate). */
  byReason: Record<string, number>;
}

/** Check totals since the process started, from tollgate_check_total. */
export async function decisionTotals(registry: Registry): Promise<DecisionTotals> {
  const samples = await metricSamples(registry, "tollgate_check_total");
  const totals: DecisionTotals = { allowed: 0, denied: 0, errors: 0, byReason: {} };
  for (const s of samples) {
    if (s.labels["result"] === "allow") totals.allowed += s.value;
    else {
      if (s.labels["result"] === "deny") totals.denied += s.value;
      else totals.errors += s.value;
      const reason = s.labels["reason"] || "unknown";
      totals.byReason[reason] = (totals.byReason[reason] ?? 0) + s.value;
    }
  }
  return totals;
}

export interface RateLimitTotals {
  /** ShouldRateLimit calls by overall code (OK, OVER_LIMIT, error). */
  calls: Record<string, number>;
  /** Over-limit answers by domain ("policy" for policy-declared limits). */
  overLimitByDomain: Record<string, number>;
  /** Decisions a failure mode took while the limit store was down, by mode. */
  failureModeUsed: Record<string, number>;
  storeErrors: number;
}

export async function rateLimitTotals(registry: Registry): Promise<RateLimitTotals> {
  const [calls, over, modes, errors] = await Promise.all([
    metricSamples(registry, "tollgate_ratelimit_calls_total"),
    metricSamples(registry, "tollgate_over_limit_total"),
    metricSamples(registry, "tollgate_limit_failure_mode_total"),
    metricSamples(registry, "tollgate_limit_store_errors_total"),
  ]);
  return {
    calls: sumBy(calls, "code"),
    overLimitByDomain: sumBy(over, "domain"),
    failureModeUsed: sumBy(modes, "mode"),
    storeErrors: errors.reduce((n, s) => n + s.value, 0),
  };
}
