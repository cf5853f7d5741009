import type { Logger } from "./logger.js";
import { maskDecisionCopy, type DecisionCopyOptions } from "./mask.js";

export interface DecisionEvent {
  decision_id: string;
  revision: string | undefined;
  allowed: boolean;
  /** HTTP status the client sees (200 when allowed), or the gRPC error code name for errors. */
  status: number | string;
  method: string | undefined;
  path: string | undefined;
  latency_ms: number;
  /** The tenant the policy identified; null when it named none (no or unknown key, an error). Check always sets it. */
  tenant?: string | null;
  /** Why: the policy's reason (allowed ones too), a step's (rate_limited), or the error code. */
  reason?: string;
  /** The prompt-guard patterns a denial matched, by name. */
  guard_patterns?: string[];
  dry_run?: boolean;
  input?: unknown;
  result?: unknown;
  /** JSON pointers the masking step removed from input/result, as in OPA's decision-log events. */
  erased?: string[];
  /** JSON pointers the policy's mask rules upserted. */
  masked?: string[];
}

export function logDecision(logger: Logger, event: DecisionEvent): void {
  // Checked first so a server logging at warn or above does not copy the event for a line it drops.
  if (logger.isLevelEnabled("info")) logger.info({ event: "decision", ...event }, "decision");
}

/**
 * Adds the decision's input and result to its log line, through the masking step. Returns why the
 * input was left out when the policy's mask failed (the line then carries no input at all).
 */
export function attachDecisionInput(event: DecisionEvent, decision: { input: unknown; result: unknown }, opts: DecisionCopyOptions): string | undefined {
  const copy = maskDecisionCopy(decision, opts);
  if (!copy.ok) return copy.reason;
  event.input = copy.doc["input"];
  event.result = copy.doc["result"];
  if (copy.erased.length > 0) event.erased = copy.erased;
  if (copy.masked.length > 0) event.masked = copy.masked;
  return undefined;
}
