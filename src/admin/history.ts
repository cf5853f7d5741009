import type { AuditRecord } from "../audit/index.js";
import type { PolicyEvent } from "../policy/registry.js";
import type { PolicyEventKind, PolicyHistoryEntry } from "../status/context.js";

const EVENT: Record<AuditRecord["action"], PolicyEventKind> = {
  activation: "activated",
  rejection: "rejected",
  rollback: "rolled_back",
  promotion: "promoted",
};

/** Policy history for the admin API and dashboard from audit trail records, newest first, at most `limit`. */
export function historyFromAudit(records: readonly AuditRecord[], limit = 200): PolicyHistoryEntry[] {
  return records
    .slice(-limit)
    .reverse()
    .map((r) => ({
      at: r.ts,
      event: EVENT[r.action],
      source: r.source,
      ...(r.revision !== null ? { revision: r.revision } : {}),
      ...(r.previous_revision !== null ? { previousRevision: r.previous_revision } : {}),
      ...(r.operator !== null ? { operator: r.operator } : {}),
      ...(r.reason !== null ? { reason: r.reason } : {}),
    }));
}

/** Policy history from the registry's in-memory events (no audit file), newest first. */
export function historyFromEvents(events: readonly PolicyEvent[]): PolicyHistoryEntry[] {
  return events.map(({ action, ...rest }) => ({ ...rest, event: EVENT[action] }));
}
