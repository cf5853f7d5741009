/**
 * A decision-log event in OPA's upload format (the EventV1 of OPA's plugins/logs): what
 * `decision_logs` sends to `<service>/logs`, one array element per decision.
 */
export interface DecisionLogEvent {
  decision_id: string;
  labels?: Record<string, string>;
  /** Deprecated by OPA in favour of bundles, still sent for a single unnamed revision. */
  revision?: string;
  bundles?: Record<string, { revision?: string }>;
  /** Queried rule path without the data. prefix, e.g. "envoy/authz/allow". */
  path?: string;
  query?: string;
  input?: unknown;
  result?: unknown;
  error?: unknown;
  requested_by?: string;
  /** RFC 3339 time of the decision. */
  timestamp: string;
  /** OPA metric names, e.g. timer_rego_query_eval_ns, timer_server_handler_ns. */
  metrics?: Record<string, number>;
  /** JSON pointers removed by data.system.log.mask (set by the sink). */
  erased?: string[];
  /** JSON pointers upserted by data.system.log.mask (set by the sink). */
  masked?: string[];
  req_id?: number;
  trace_id?: string;
  span_id?: string;
}

export interface DecisionLogEventInit {
  decisionId: string;
  /** Decision rule path, e.g. "envoy/authz/allow". */
  path: string;
  revision?: string | undefined;
  /** Name of the bundle the revision came from; adds bundles: {name: {revision}} as OPA does. */
  bundleName?: string | undefined;
  input?: unknown;
  result?: unknown;
  timestamp?: Date;
  /** Policy evaluation time. */
  evalNs?: number | undefined;
  /** Whole Check handler time. */
  handlerNs?: number | undefined;
  requestedBy?: string | undefined;
  labels?: Record<string, string> | undefined;
}

/** Builds an OPA-shaped event from what tollgate knows after a Check. */
export function decisionLogEvent(init: DecisionLogEventInit): DecisionLogEvent {
  const event: DecisionLogEvent = {
    decision_id: init.decisionId,
    path: init.path.replace(/^\/+/, "").replace(/^data\//, ""),
    timestamp: (init.timestamp ?? new Date()).toISOString(),
  };
  if (init.labels) event.labels = { ...init.labels };
  if (init.revision !== undefined) {
    event.revision = init.revision;
    if (init.bundleName !== undefined) event.bundles = { [init.bundleName]: { revision: init.revision } };
  }
  if (init.input !== undefined) event.input = init.input;
  if (init.result !== undefined) event.result = init.result;
  if (init.requestedBy !== undefined) event.requested_by = init.requestedBy;
  const metrics: Record<string, number> = {};
  if (init.evalNs !== undefined) metrics["timer_rego_query_eval_ns"] = Math.round(init.evalNs);
  if (init.handlerNs !== undefined) metrics["timer_server_handler_ns"] = Math.round(init.handlerNs);
  if (Object.keys(metrics).length > 0) event.metrics = metrics;
  return event;
}
