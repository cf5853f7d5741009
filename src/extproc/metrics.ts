import { Counter, type Registry } from "prom-client";
import { PROVIDER_IDS } from "../llm/types.js";

const KNOWN_PROVIDERS = new Set<string>(PROVIDER_IDS);

/** A provider name safe as a label: one of tollgate's providers, else "other" (the reservation is signed, but stay bounded anyway). */
export function providerLabel(provider: string): string {
  return KNOWN_PROVIDERS.has(provider) ? provider : "other";
}

/**
 * Metrics of the ext_proc server, on the app's registry. Token counters are per provider; one
 * response adds its reserved tokens (the largest reservation among its reconciled counters) and its
 * actual tokens (input + output as the provider reported them, or estimated).
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
  }
}
