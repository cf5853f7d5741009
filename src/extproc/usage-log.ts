import { decisionLogEvent, type DecisionLogEvent } from "../decision-log/index.js";
import type { ProcessingRequest } from "../gen/envoy/service/ext_proc/v3/external_processor.js";
import { AUTHZ_NAMESPACE } from "./messages.js";

/** The path of a reconcile event in the uploaded decision logs: not a rule, so consumers can tell it from Check's events. */
export const USAGE_LOG_PATH = "tollgate/usage_reconciled";

/**
 * The decision-log event of one reconciled response: the same decision_id as the Check event that
 * reserved it, the usage_reconciled line as its result. The sink masks it like every event.
 */
export function usageLogEvent(line: { decision_id: string } & Record<string, unknown>): DecisionLogEvent {
  const { decision_id, ...result } = line;
  return decisionLogEvent({ decisionId: decision_id, path: USAGE_LOG_PATH, result });
}

/**
 * The tenant Check's decision named (its dynamic_metadata.tenant, forwarded by Envoy with the
 * reservation), as UsageTracker reads it for Check; undefined when the policy names none.
 */
export function decisionTenant(req: ProcessingRequest): string | undefined {
  const tenant: unknown = req.metadataContext?.filterMetadata[AUTHZ_NAMESPACE]?.["tenant"];
  return typeof tenant === "string" && tenant !== "" ? tenant : undefined;
}
