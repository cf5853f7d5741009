import { AuditTrail } from "../audit/index.js";
import type { Settings } from "../config/settings.js";
import { TollgateError } from "../errors.js";
import type { LimitStore } from "../limits/types.js";
import { originLocation, type PolicyOrigin } from "../policy/origin.js";
import type { PolicyRegistry } from "../policy/registry.js";
import type { TlsInfo } from "../tls/certificates.js";
import type { TenantUsage } from "../authz/usage.js";
import type { WorkerState } from "../cluster/messages.js";
import type { AdminContext, AdminStatus, LimitStoreStatus, PolicyHistoryEntry, PolicySourceStatus } from "../status/context.js";
import { historyFromAudit, historyFromEvents } from "./history.js";
import { maskingEvidence } from "./masking-self-test.js";
import type { DecisionLogSink } from "../decision-log/index.js";

export interface AppContextParts {
  settings: Settings;
  policy: PolicyRegistry;
  /** The configured source of active revisions, shown while none has loaded yet. */
  policyOrigin: PolicyOrigin;
  store: LimitStore & { readonly ready?: boolean };
  usage: () => TenantUsage[];
  grpcTls: () => TlsInfo | undefined;
  /** Under `--workers`: every worker's revision, from the primary. */
  workers?: () => Promise<WorkerState[]>;
  /** The running decision-log sink, when uploads are on (the masking self-test reads its output). */
  decisionLogs?: DecisionLogSink | undefined;
}

const KINDS: Record<PolicyOrigin["kind"], string> = { folder: "local", "bundle-file": "bundle-file", "bundle-server": "bundle-http" };

function sourceOf(role: "active" | "candidate", origin: PolicyOrigin, revision?: string): PolicySourceStatus {
  return { role, kind: KINDS[origin.kind], location: originLocation(origin), ...(revision ? { revision } : {}) };
}

function lastRejection(policy: PolicyRegistry): Pick<AdminStatus["policy"], "lastRejection"> {
  const r = policy.lastRejection();
  return r ? { lastRejection: { at: r.at, source: r.source, reason: r.reason ?? "", ...(r.revision ? { revision: r.revision } : {}) } } : {};
}

/**
 * A rollback or promotion would reach only the worker that took the call, leaving the workers on
 * different revisions; until it is sent to all of them it is refused (change the files instead).
 */
function refuseUnderWorkers(parts: AppContextParts): void {
  if (parts.workers) throw new TollgateError("config_error", "rollback and promote are not available with --workers above 1: change the policy source instead, every worker reloads it");
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
          ...lastRejection(policy),
        },
        sources: [
          active ? sourceOf("active", active.origin, active.revision) : sourceOf("active", parts.policyOrigin),
          ...(candidate ? [sourceOf("candidate", candidate.origin, candidate.revision)] : []),
        ],
        ...(parts.workers ? { workers: await parts.workers() } : {}),
        limitStore: storeStatus(),
        failModes: { decisionError: settings.onDecisionError, limitStoreDefault: "allow" },
        security: {
          grpcTls: { enabled: tls !== undefined, clientCertRequired: settings.grpcTlsClientCaFile !== undefined, ...(tls ? { certificate: tls } : {}) },
          masking: maskingEvidence({ settings, engine: () => policy.current(), decisionLogs: parts.decisionLogs }),
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
      return historyFromEvents(policy.events());
    },
    usage: async () => parts.usage(),
    async rollback(revision, operator) {
      refuseUnderWorkers(parts);
      const previous = policy.activeRevision()?.revision;
      const now = policy.rollback(revision, operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
    async promote(operator) {
      refuseUnderWorkers(parts);
      const previous = policy.activeRevision()?.revision;
      const now = policy.promote(operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
  };
}
