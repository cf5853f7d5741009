import { AuditTrail } from "../audit/index.js";
import type { Settings } from "../config/settings.js";
import { TollgateError } from "../errors.js";
import type { LimitStore } from "../limits/types.js";
import { originLocation, type PolicyOrigin } from "../policy/origin.js";
import type { PolicyRegistry } from "../policy/registry.js";
import type { TlsInfo } from "../tls/certificates.js";
import type { TenantUsage } from "../authz/usage.js";
import type { AdminContext, AdminStatus, LimitStoreStatus, PolicyHistoryEntry, PolicySourceStatus } from "../status/context.js";
import { historyFromAudit } from "./history.js";

export interface AppContextParts {
  settings: Settings;
  policy: PolicyRegistry;
  /** The configured source of active revisions, shown while none has loaded yet. */
  policyOrigin: PolicyOrigin;
  store: LimitStore & { readonly ready?: boolean };
  usage: () => TenantUsage[];
  grpcTls: () => TlsInfo | undefined;
}

const KINDS: Record<PolicyOrigin["kind"], string> = { folder: "local", "bundle-file": "bundle-file", "bundle-server": "bundle-http" };

function sourceOf(role: "active" | "candidate", origin: PolicyOrigin, revision?: string): PolicySourceStatus {
  return { role, kind: KINDS[origin.kind], location: originLocation(origin), ...(revision ? { revision } : {}) };
}

/** The running tollgate as the admin server sees it. */
export function appAdminContext(parts: AppContextParts): AdminContext {
  const { settings, policy, store } = parts;
  const startedAt = new Date().toISOString();
  const storeStatus = (): LimitStoreStatus => ({ kind: store.kind, state: store.ready === false ? "unavailable" : "ready" });
  return {
    ready: () => policy.current() !== undefined,
    async status(): Promise<AdminStatus> {
      const active = policy.activeRevision();
      const candidate = policy.candidateRevision();
      const tls = parts.grpcTls();
      return {
        ready: active !== undefined,
        startedAt,
        policy: {
          ...(active ? { activeRevision: active.revision } : {}),
          ...(candidate ? { candidateRevision: candidate.revision } : {}),
          revisions: policy.revisions().map((r) => r.revision),
        },
        sources: [
          active ? sourceOf("active", active.origin, active.revision) : sourceOf("active", parts.policyOrigin),
          ...(candidate ? [sourceOf("candidate", candidate.origin, candidate.revision)] : []),
        ],
        limitStore: storeStatus(),
        failModes: { decisionError: settings.onDecisionError, limitStoreDefault: "allow" },
        security: {
          grpcTls: { enabled: tls !== undefined, clientCertRequired: settings.grpcTlsClientCaFile !== undefined, ...(tls ? { certificate: tls } : {}) },
          decisionLogMasking: true,
          bundleSignatureVerification: settings.bundleVerificationKeyFile !== undefined && !settings.bundleSkipVerification,
          dryRun: settings.dryRun,
        },
      };
    },
    async history(): Promise<PolicyHistoryEntry[]> {
      if (settings.auditFile) {
        try {
          return historyFromAudit(AuditTrail.open(settings.auditFile).read());
        } catch (err) {
          throw new TollgateError("config_error", `audit trail unreadable: ${TollgateError.from(err).message}`, { cause: err });
        }
      }
      return policy.revisions().map((r) => ({ at: r.activatedAt ?? startedAt, event: "activated" as const, revision: r.revision, source: r.source }));
    },
    usage: async () => parts.usage(),
    async rollback(revision, operator) {
      const previous = policy.activeRevision()?.revision;
      const now = policy.rollback(revision, operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
    async promote(operator) {
      const previous = policy.activeRevision()?.revision;
      const now = policy.promote(operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
  };
}
