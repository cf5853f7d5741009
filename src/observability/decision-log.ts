import type { Logger } from "./logger.js";
import { erase, upsert } from "./json-pointer.js";

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
}

/**
 * Applies OPA's data.system.log.mask result to an event: each entry is a JSON pointer to erase,
 * or {op: "upsert", path, value}. Pointers address the event (e.g. "/input/attributes/...").
 */
export function applyLogMask(event: Record<string, unknown>, maskResultSet: unknown): void {
  if (!Array.isArray(maskResultSet) || maskResultSet.length === 0) return;
  const rules: unknown = (maskResultSet[0] as { result?: unknown }).result;
  if (!Array.isArray(rules)) return;
  for (const rule of rules) {
    if (typeof rule === "string") erase(event, rule);
    else if (typeof rule === "object" && rule !== null) {
      const r = rule as { op?: unknown; path?: unknown; value?: unknown };
      if (typeof r.path !== "string") continue;
      if (r.op === "upsert") upsert(event, r.path, r.value);
      else if (r.op === undefined || r.op === "remove") erase(event, r.path);
    }
  }
}

export function logDecision(logger: Logger, event: DecisionEvent): void {
  logger.info({ event: "decision", ...event }, "decision");
}
