import type { Registry } from "prom-client";
import { metricSamples, sumBy, type MetricSample } from "../observability/metric-values.js";
import { samplesFromText } from "./metric-text.js";

/** Tokens of reconciled LLM responses (ext_proc): what was reserved at admission against what was used. */
export interface TokenTotals {
  reserved: number;
  actual: number;
  /** Reserved tokens given back (the response used fewer, or failed). */
  refunded: number;
  /** Tokens charged on top of the reservation (the response used more). */
  overcharged: number;
}

export interface TenantLlmUsage extends TokenTotals {
  tenant: string;
  /** Reconciled responses, by outcome. */
  responses: Record<string, number>;
  streamsStopped: number;
  reconcileFailures: number;
}

export interface ProviderLlmUsage extends TokenTotals {
  provider: string;
  /** The part of actual counted from the streamed text because the provider reported no usage. */
  estimated: number;
  streamsStopped: number;
}

export interface LlmUsage {
  /** "process": this process only; "all_workers": summed over every worker of `--workers`. */
  scope: "process" | "all_workers";
  tenants: TenantLlmUsage[];
  providers: ProviderLlmUsage[];
  /** Every ext_proc stream by outcome (refused, unreserved and empty included). */
  streams: Record<string, number>;
  reconcileFailures: Record<string, number>;
  reservationsRefused: Record<string, number>;
}

const TENANT_TOKENS = "tollgate_llm_tenant_tokens_total";
const TENANT_STREAMS = "tollgate_extproc_tenant_streams_total";
const TENANT_FAILURES = "tollgate_extproc_tenant_reconcile_failures_total";
const RESERVED = "tollgate_llm_tokens_reserved_total";
const ACTUAL = "tollgate_llm_tokens_actual_total";
const REFUNDED = "tollgate_llm_tokens_refunded_total";
const OVERCHARGED = "tollgate_llm_tokens_overcharged_total";
const STOPPED = "tollgate_extproc_streams_stopped_total";
const STREAMS = "tollgate_extproc_streams_total";
const FAILURES = "tollgate_extproc_reconcile_failures_total";
const REFUSED = "tollgate_extproc_reservations_refused_total";
const NAMES = new Set([TENANT_TOKENS, TENANT_STREAMS, TENANT_FAILURES, RESERVED, ACTUAL, REFUNDED, OVERCHARGED, STOPPED, STREAMS, FAILURES, REFUSED]);

type Samples = (name: string) => MetricSample[];

/** The usage view from this process's registry. */
export async function llmUsageFromRegistry(registry: Registry): Promise<LlmUsage> {
  const all = new Map(await Promise.all([...NAMES].map(async (n) => [n, await metricSamples(registry, n)] as const)));
  return llmUsage((n) => all.get(n) ?? [], "process");
}

/** The usage view from Prometheus text: the primary's sum of every worker's metrics. */
export function llmUsageFromText(text: string): LlmUsage {
  const all = samplesFromText(text, NAMES);
  return llmUsage((n) => all.get(n) ?? [], "all_workers");
}

const byActual = <T extends { actual: number; reserved: number }>(a: T, b: T, name: (x: T) => string): number => b.actual - a.actual || b.reserved - a.reserved || name(a).localeCompare(name(b));

/**
 * Per tenant and per provider, from the ext_proc counters alone: counters sum across workers, so
 * the aggregated scrape gives the whole service's view. Counts and label values only.
 */
export function llmUsage(samples: Samples, scope: LlmUsage["scope"]): LlmUsage {
  const tenants = new Map<string, TenantLlmUsage>();
  const tenant = (name: string): TenantLlmUsage => {
    let t = tenants.get(name);
    if (!t) tenants.set(name, (t = { tenant: name, reserved: 0, actual: 0, refunded: 0, overcharged: 0, responses: {}, streamsStopped: 0, reconcileFailures: 0 }));
    return t;
  };
  for (const s of samples(TENANT_TOKENS)) {
    const kind = s.labels["kind"];
    if (s.labels["tenant"] !== undefined && (kind === "reserved" || kind === "actual" || kind === "refunded" || kind === "overcharged")) tenant(s.labels["tenant"])[kind] += s.value;
  }
  for (const s of samples(TENANT_STREAMS)) {
    const outcome = s.labels["outcome"];
    if (s.labels["tenant"] === undefined || outcome === undefined) continue;
    const t = tenant(s.labels["tenant"]);
    t.responses[outcome] = (t.responses[outcome] ?? 0) + s.value;
    if (outcome === "stopped") t.streamsStopped += s.value;
  }
  for (const s of samples(TENANT_FAILURES)) if (s.labels["tenant"] !== undefined) tenant(s.labels["tenant"]).reconcileFailures += s.value;

  const perProvider = {
    reserved: sumBy(samples(RESERVED), "provider"),
    actual: sumBy(samples(ACTUAL), "provider"),
    estimated: sumBy(samples(ACTUAL).filter((s) => s.labels["source"] === "estimated"), "provider"),
    refunded: sumBy(samples(REFUNDED), "provider"),
    overcharged: sumBy(samples(OVERCHARGED), "provider"),
    stopped: sumBy(samples(STOPPED), "provider"),
  };
  const providerNames = new Set(Object.values(perProvider).flatMap((m) => Object.keys(m)));
  const providers = [...providerNames].map((provider) => ({
    provider,
    reserved: perProvider.reserved[provider] ?? 0,
    actual: perProvider.actual[provider] ?? 0,
    refunded: perProvider.refunded[provider] ?? 0,
    overcharged: perProvider.overcharged[provider] ?? 0,
    estimated: perProvider.estimated[provider] ?? 0,
    streamsStopped: perProvider.stopped[provider] ?? 0,
  }));
  return {
    scope,
    tenants: [...tenants.values()].sort((a, b) => byActual(a, b, (x) => x.tenant)),
    providers: providers.sort((a, b) => byActual(a, b, (x) => x.provider)),
    streams: sumBy(samples(STREAMS), "outcome"),
    reconcileFailures: sumBy(samples(FAILURES), "reason"),
    reservationsRefused: sumBy(samples(REFUSED), "reason"),
  };
}
