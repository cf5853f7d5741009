import type { App } from "../../src/app.js";
import type { TenantUsage } from "../../src/authz/usage.js";
import type { AdminContext, AdminStatus } from "../../src/status/context.js";
import { POLICY_HASH_TAG, policyCounterKey } from "../../src/authz/limits.js";
import { historyFromAudit } from "../../src/admin/history.js";
import { AuditTrail } from "../../src/audit/index.js";

/**
 * TEST DOUBLE of AdminContext over a real App, for admin-server tests that run real traffic. It reads
 * what App exposes (revisions, store kind), sends rollback/promote to the app's real PolicyRegistry
 * (which writes the audit trail), reads history from the audit file when given one, and answers the
 * rest (settings, store state) with fixed values. The app's own AdminContext replaces it once app.ts
 * provides one.
 */
export function appContextDouble(app: App, opts: { usage?: () => Promise<TenantUsage[]>; auditFile?: string } = {}): AdminContext {
  const startedAt = new Date().toISOString();
  return {
    ready: () => app.policy.current() !== undefined,
    async status(): Promise<AdminStatus> {
      const rev = app.policy.current()?.revision;
      const candidate = app.policy.candidate()?.revision;
      return {
        ready: rev !== undefined,
        startedAt,
        policy: { ...(rev ? { activeRevision: rev } : {}), ...(candidate ? { candidateRevision: candidate } : {}), revisions: rev ? [rev] : [] },
        sources: [{ role: "active", kind: "local", location: "policies", ...(rev ? { revision: rev } : {}) }],
        limitStore: { kind: app.store.kind, state: "ready" },
        failModes: { decisionError: "error", limitStoreDefault: "allow" },
        security: { grpcTls: { enabled: false, clientCertRequired: false }, decisionLogMasking: true, bundleSignatureVerification: false, dryRun: false },
      };
    },
    history: async () => {
      if (opts.auditFile) return historyFromAudit(AuditTrail.open(opts.auditFile).read());
      const rev = app.policy.current()?.revision;
      return rev ? [{ at: startedAt, event: "activated", revision: rev, source: "dir:policies" }] : [];
    },
    usage: opts.usage ?? (async () => []),
    // The registry writes the audit record (with the operator) itself.
    rollback: async (revision, operator) => {
      const previous = app.policy.activeRevision()?.revision;
      const now = app.policy.rollback(revision, operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
    promote: async (operator) => {
      const previous = app.policy.activeRevision()?.revision;
      const now = app.policy.promote(operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
  };
}

/** Reads the counters the traffic policy's /limited rule writes for one run (hits 0 only reads). */
export function storeUsage(app: App, run: string): () => Promise<TenantUsage[]> {
  return async () => {
    const [req, tok] = await app.store.apply(
      [
        { key: policyCounterKey({ key: `acme-req:${run}`, windowSeconds: 3600 }), limit: 2, windowSeconds: 3600, hits: 0, algorithm: "fixed_window" },
        { key: policyCounterKey({ key: `acme-tok:${run}`, windowSeconds: 3600 }), limit: 100_000, windowSeconds: 3600, hits: 0, algorithm: "fixed_window" },
      ],
      { hashTag: POLICY_HASH_TAG },
    );
    return [{
      tenant: "acme",
      limits: [
        { name: "requests_per_hour", unit: "requests", used: 2 - req!.remaining, limit: 2, windowSeconds: 3600, resetSeconds: req!.resetSeconds },
        { name: "tokens_per_hour", unit: "tokens", used: 100_000 - tok!.remaining, limit: 100_000, windowSeconds: 3600, resetSeconds: tok!.resetSeconds },
      ],
    }];
  };
}
