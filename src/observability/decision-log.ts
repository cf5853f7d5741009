import type { Logger } from "./logger.js";

export interface DecisionEvent {
  decision_id: string;
  revision: string | undefined;
  allowed: boolean;
  /** HTTP status the client sees (200 when allowed), or the gRPC error code name for errors. */
  status: number | string;
  method: string | undefined;
  path: string | undefined;
  latency_ms: number;
  reason?: string;
  dry_run?: boolean;
  input?: unknown;
  result?: unknown;
  /** JSON pointers the masking step removed from input/result, as in OPA's decision-log events. */
  erased?: string[];
  /** JSON pointers the policy's mask rules upserted. */
  masked?: string[];
}

export function logDecision(logger: Logger, event: DecisionEvent): void {
  logger.info({ event: "decision", ...event }, "decision");
}
