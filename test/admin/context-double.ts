import { maskingEvidence } from "../../src/admin/masking-self-test.js";
import { resolveSettings } from "../../src/config/settings.js";
import { TollgateError } from "../../src/errors.js";
import type { TenantUsage } from "../../src/authz/usage.js";
import type { AdminContext, AdminStatus, PolicyChange, PolicyHistoryEntry } from "../../src/status/context.js";

/**
 * TEST DOUBLE of AdminContext, for tests of the admin server only: canned answers, and a record of
 * the state-changing calls it received. The real implementation lives in the app.
 */
export class AdminContextDouble implements AdminContext {
  readyValue = true;
  readonly calls: { method: "rollback" | "promote"; revision?: string | undefined; operator: string }[] = [];
  /** When set, the next state-changing call rejects with it. */
  failWith: unknown;
  /** When set, status() waits this long (to test call timeouts). */
  statusDelayMs = 0;
  revisions = ["rev-3", "rev-2", "rev-1"];
  active = "rev-3";
  history_: PolicyHistoryEntry[] = [
    { at: "2025-01-01T10:00:00.000Z", event: "activated", revision: "rev-1", source: "dir:policies" },
    { at: "2025-01-01T11:00:00.000Z", event: "rejected", source: "dir:policies", reason: "opa test: 1 failed" },
    { at: "2025-01-01T12:00:00.000Z", event: "activated", revision: "rev-2", previousRevision: "rev-1", source: "dir:policies" },
    { at: "2025-01-01T13:00:00.000Z", event: "activated", revision: "rev-3", previousRevision: "rev-2", source: "dir:policies" },
  ].reverse() as PolicyHistoryEntry[];
  usage_: TenantUsage[] = [
    { tenant: "acme", limits: [
      { name: "requests_per_minute", unit: "requests", used: 12, limit: 60, windowSeconds: 60 },
      { name: "tokens_per_minute", unit: "tokens", used: 4200, limit: 20000, windowSeconds: 60 },
    ] },
  ];
  statusOverride: Partial<AdminStatus> = {};

  ready(): boolean {
    return this.readyValue;
  }

  async status(): Promise<AdminStatus> {
    if (this.statusDelayMs) await new Promise((r) => setTimeout(r, this.statusDelayMs));
    return {
      ready: this.readyValue,
      startedAt: "2025-01-01T09:00:00.000Z",
      policy: { activeRevision: this.active, revisions: this.revisions },
      sources: [{ role: "active", kind: "local", location: "policies", revision: this.active }],
      limitStore: { kind: "memory", state: "ready" },
      failModes: { decisionError: "error", limitStoreDefault: "allow" },
      // The real masking self-test, on default settings and no policy.
      security: { grpcTls: { enabled: false, clientCertRequired: false }, masking: maskingEvidence({ settings: resolveSettings({ flags: {} }), engine: () => undefined }), bundleSignatureVerification: false, dryRun: false },
      ...this.statusOverride,
    };
  }

  async history(): Promise<PolicyHistoryEntry[]> {
    return this.history_;
  }

  async usage(): Promise<TenantUsage[]> {
    return this.usage_;
  }

  async rollback(revision: string | undefined, operator: string): Promise<PolicyChange> {
    this.calls.push({ method: "rollback", revision, operator });
    if (this.failWith) throw this.failWith;
    const target = revision ?? this.revisions[1];
    if (!target || !this.revisions.includes(target)) throw new TollgateError("config_error", `no kept revision ${JSON.stringify(revision)}`);
    const previous = this.active;
    this.active = target;
    return { revision: target, previousRevision: previous };
  }

  async promote(operator: string): Promise<PolicyChange> {
    this.calls.push({ method: "promote", operator });
    if (this.failWith) throw this.failWith;
    throw new TollgateError("config_error", "no candidate policy is configured");
  }
}
