import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const REASON = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_TENANT_LABELS = 100;

/** A deny reason safe to use as a label: a short snake_case word, else "policy". */
export function reasonLabel(reason: unknown): string {
  return typeof reason === "string" && REASON.test(reason) ? reason : "policy";
}

/**
 * tollgate's Prometheus metrics on their own registry. Labels are bounded: results, reason
 * codes, domains from the operator's config; never request ids or free text.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly checks = new Counter({ name: "tollgate_check_total", help: "ext_authz Check calls by result and reason", labelNames: ["result", "reason"], registers: [this.registry] });
  readonly checkDuration = new Histogram({ name: "tollgate_check_duration_seconds", help: "Whole Check latency", buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly evalDuration = new Histogram({ name: "tollgate_policy_eval_duration_seconds", help: "Policy evaluation latency", buckets: LATENCY_BUCKETS, registers: [this.registry] });
  /** Every gRPC call, whatever its handler, by method and result code ("ok" or the error code). */
  readonly grpcCalls = new Counter({ name: "tollgate_grpc_calls_total", help: "gRPC calls by method and result code (ok, or tollgate's error code)", labelNames: ["method", "code"], registers: [this.registry] });
  readonly grpcCallDuration = new Histogram({ name: "tollgate_grpc_call_duration_seconds", help: "gRPC call latency by method", labelNames: ["method"], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly rateLimitCalls = new Counter({ name: "tollgate_ratelimit_calls_total", help: "ShouldRateLimit calls by overall code", labelNames: ["code"], registers: [this.registry] });
  readonly overLimit = new Counter({ name: "tollgate_over_limit_total", help: "Requests answered over limit, by domain (policy limits use domain=\"policy\")", labelNames: ["domain"], registers: [this.registry] });
  readonly storeDuration = new Histogram({ name: "tollgate_limit_store_duration_seconds", help: "Limit store round-trip latency", labelNames: ["store"], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly storeErrors = new Counter({ name: "tollgate_limit_store_errors_total", help: "Limit store calls that failed or timed out", labelNames: ["store"], registers: [this.registry] });
  readonly failureModeUsed = new Counter({ name: "tollgate_limit_failure_mode_total", help: "Decisions taken by a failure mode while the store was unavailable", labelNames: ["mode"], registers: [this.registry] });
  // Under --workers the primary sums the workers' metrics; this one stays 1 per revision served.
  readonly policyInfo = new Gauge({ name: "tollgate_policy_info", help: "The active policy revision (value 1)", labelNames: ["revision"], registers: [this.registry], aggregator: "max" });
  readonly activations = new Counter({ name: "tollgate_policy_activations_total", help: "Policy revisions activated or rejected", labelNames: ["result"], registers: [this.registry] });
  readonly shadowDisagreements = new Counter({ name: "tollgate_shadow_disagreements_total", help: "Candidate policy answers that differ from the active one", labelNames: ["kind"], registers: [this.registry] });
  /** Checks per tenant; registered only when the operator turns tenant labels on. */
  readonly tenantChecks: Counter | undefined;
  private readonly tenantsSeen = new Set<string>();
  /** Set by the app: reads the active policy's WASM memory size at scrape time. */
  wasmMemorySource: () => number | undefined = () => undefined;
  readonly wasmMemory: Gauge;

  constructor(opts: { defaultMetrics?: boolean; tenantLabels?: boolean } = {}) {
    this.tenantChecks = opts.tenantLabels
      ? new Counter({ name: "tollgate_tenant_checks_total", help: `Checks by tenant (the first ${MAX_TENANT_LABELS} tenants seen; the rest count as "other")`, labelNames: ["tenant", "result"], registers: [this.registry] })
      : undefined;
    const source = () => this.wasmMemorySource();
    this.wasmMemory = new Gauge({
      name: "tollgate_wasm_memory_bytes",
      help: "Linear memory of the active policy's WASM instance",
      registers: [this.registry],
      collect() {
        const bytes = source();
        if (bytes !== undefined) this.set(bytes);
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "tollgate_" });
  }

  /** Counts a Check for its tenant, keeping the label set bounded. */
  tenantCheck(tenant: string, result: string): void {
    if (!this.tenantChecks) return;
    if (!this.tenantsSeen.has(tenant) && this.tenantsSeen.size < MAX_TENANT_LABELS) this.tenantsSeen.add(tenant);
    this.tenantChecks.inc({ tenant: this.tenantsSeen.has(tenant) ? tenant : "other", result });
  }

  policyActivated(revision: string): void {
    this.policyInfo.reset();
    this.policyInfo.set({ revision }, 1);
    this.activations.inc({ result: "activated" });
  }
}
