import { Counter, type Registry } from "prom-client";
import { PROVIDER_IDS } from "../llm/types.js";

const KNOWN_PROVIDERS = new Set<string>(PROVIDER_IDS);
/** Tenants that get their own label value, per process; later ones count as "other". */
export const MAX_TENANT_LABELS = 100;
const MAX_TENANT_CHARS = 128;

/** A provider name safe as a label: one of tollgate's providers, else "other" (the reservation is signed, but stay bounded anyway). */
export function providerLabel(provider: string): string {
  return KNOWN_PROVIDERS.has(provider) ? provider : "other";
}

/** What one reconciled response adds to the metrics. */
export interface ReconciledCount {
  provider: string;
  /** The decision's dynamic_metadata.tenant, when it had one. */
  tenant: string | undefined;
  outcome: string;
  /** The largest reservation among the response's reconciled counters; 0 when it had none. */
  reserved: number;
  hasCounters: boolean;
  /** Input + output tokens; with its source when usage was read (not for an upstream error). */
  actual: number;
  source: "reported" | "estimated" | undefined;
  /** At least one counter was adjusted (refunds and extra charges are counted only then). */
  applied: boolean;
  /** Counter adjustments not applied, by reason (store_unavailable, window_rolled, expired). */
  failures: string[];
  malformed: number;
}

/**
 * Metrics of the ext_proc server, on the app's registry. Token counters are per provider and per
 * tenant; one response adds its reserved tokens (the largest reservation among its reconciled
 * counters) and its actual tokens (input + output as the provider reported them, or estimated).
 * Tenant labels are bounded like tollgate_tenant_checks_total: the first MAX_TENANT_LABELS tenants
 * a process sees, the rest as "other"; "unknown" when the decision named none.
 */
export class ExtProcMetrics {
  readonly streams: Counter<"outcome">;
  readonly tokensReserved: Counter<"provider">;
  readonly tokensActual: Counter<"provider" | "source">;
  readonly tokensRefunded: Counter<"provider">;
  readonly tokensOvercharged: Counter<"provider">;
  readonly streamsStopped: Counter<"provider">;
  readonly reconcileFailures: Counter<"reason">;
  readonly reservationsRefused: Counter<"reason">;
  readonly malformedEvents: Counter<"provider">;
  readonly tenantTokens: Counter<"tenant" | "kind">;
  readonly tenantStreams: Counter<"tenant" | "outcome">;
  readonly tenantReconcileFailures: Counter<"tenant">;
  private readonly tenantsSeen = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.streams = new Counter({
      name: "tollgate_extproc_streams_total",
      help: "ext_proc streams by how they ended: completed, stopped, disconnected, upstream_error, refused, no_response",
      labelNames: ["outcome"],
      registers,
    });
    this.tokensReserved = new Counter({ name: "tollgate_llm_tokens_reserved_total", help: "Tokens reserved at admission for responses that were reconciled", labelNames: ["provider"], registers });
    this.tokensActual = new Counter({
      name: "tollgate_llm_tokens_actual_total",
      help: "Tokens actually used (input + output) by reconciled responses; source=reported when the provider said, estimated when counted from the streamed text",
      labelNames: ["provider", "source"],
      registers,
    });
    this.tokensRefunded = new Counter({ name: "tollgate_llm_tokens_refunded_total", help: "Reserved tokens given back because the response used fewer (or failed)", labelNames: ["provider"], registers });
    this.tokensOvercharged = new Counter({ name: "tollgate_llm_tokens_overcharged_total", help: "Tokens charged on top of the reservation because the response used more", labelNames: ["provider"], registers });
    this.streamsStopped = new Counter({ name: "tollgate_extproc_streams_stopped_total", help: "Responses stopped mid-stream because they crossed a token budget", labelNames: ["provider"], registers });
    this.reconcileFailures = new Counter({
      name: "tollgate_extproc_reconcile_failures_total",
      help: "Counter adjustments not applied: store_unavailable (the reservation stands), window_rolled, expired, budget_unknown (no mid-stream stop)",
      labelNames: ["reason"],
      registers,
    });
    this.reservationsRefused = new Counter({
      name: "tollgate_extproc_reservations_refused_total",
      help: "Responses whose reservation metadata was missing or invalid (forged, malformed, too old): nothing reconciled",
      labelNames: ["reason"],
      registers,
    });
    this.malformedEvents = new Counter({ name: "tollgate_extproc_malformed_events_total", help: "Response events or documents the usage reader could not read", labelNames: ["provider"], registers });
    this.tenantTokens = new Counter({
      name: "tollgate_llm_tenant_tokens_total",
      help: `Tokens of reconciled responses by tenant (the first ${MAX_TENANT_LABELS} tenants seen; the rest count as "other"): kind=reserved, actual, refunded, overcharged`,
      labelNames: ["tenant", "kind"],
      registers,
    });
    this.tenantStreams = new Counter({ name: "tollgate_extproc_tenant_streams_total", help: "Reconciled responses by tenant and outcome: completed, stopped, disconnected, upstream_error", labelNames: ["tenant", "outcome"], registers });
    this.tenantReconcileFailures = new Counter({ name: "tollgate_extproc_tenant_reconcile_failures_total", help: "Counter adjustments not applied, by tenant", labelNames: ["tenant"], registers });
  }

  /** A tenant name safe as a label value: bounded in number and length. */
  tenantLabel(tenant: string | undefined): string {
    if (tenant === undefined || tenant === "") return "unknown";
    if (this.tenantsSeen.has(tenant)) return tenant;
    if (this.tenantsSeen.size >= MAX_TENANT_LABELS || tenant.length > MAX_TENANT_CHARS) return "other";
    this.tenantsSeen.add(tenant);
    return tenant;
  }

  /** Counts one reconciled response, per provider and per tenant. */
  reconciled(c: ReconciledCount): void {
    const provider = providerLabel(c.provider);
    const tenant = this.tenantLabel(c.tenant);
    this.streams.inc({ outcome: c.outcome });
    this.tenantStreams.inc({ tenant, outcome: c.outcome });
    if (c.source) {
      this.tokensActual.inc({ provider, source: c.source }, c.actual);
      this.tenantTokens.inc({ tenant, kind: "actual" }, c.actual);
    }
    if (c.malformed > 0) this.malformedEvents.inc({ provider }, c.malformed);
    if (c.hasCounters) {
      this.tokensReserved.inc({ provider }, c.reserved);
      this.tenantTokens.inc({ tenant, kind: "reserved" }, c.reserved);
      if (c.applied && c.reserved > c.actual) {
        this.tokensRefunded.inc({ provider }, c.reserved - c.actual);
        this.tenantTokens.inc({ tenant, kind: "refunded" }, c.reserved - c.actual);
      }
      if (c.applied && c.actual > c.reserved) {
        this.tokensOvercharged.inc({ provider }, c.actual - c.reserved);
        this.tenantTokens.inc({ tenant, kind: "overcharged" }, c.actual - c.reserved);
      }
    }
    for (const reason of c.failures) this.reconcileFailures.inc({ reason });
    if (c.failures.length > 0) this.tenantReconcileFailures.inc({ tenant }, c.failures.length);
  }
}
