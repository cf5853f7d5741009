import { AuditTrail } from "../audit/index.js";
import type { Settings } from "../config/settings.js";
import { TollgateError } from "../errors.js";
import type { LimitStore } from "../limits/types.js";
import { originLocation, type PolicyOrigin } from "../policy/origin.js";
import type { PolicyRegistry } from "../policy/registry.js";
import type { TlsInfo } from "../tls/certificates.js";
import type { TenantUsage } from "../authz/usage.js";
import type { CommandResult, PolicyCommand, WorkerState } from "../cluster/messages.js";
import type { AdminContext, AdminStatus, LimitStoreStatus, PolicyHistoryEntry, PolicySourceStatus } from "../status/context.js";
import { historyFromAudit, historyFromEvents } from "./history.js";
import { maskingEvidence } from "./masking-self-test.js";
import type { MaskingEvidence } from "../observability/mask-self-test.js";
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
  /** Under `--workers`: has every worker carry out a rollback or promotion (see carryOutPolicyCommand). */
  broadcast?: (command: PolicyCommand) => Promise<CommandResult[]>;
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
 * One worker's part of a rollback or promotion that every worker makes: it ends on
 * `command.revision` (already there counts), or throws why it cannot; with `prepare` it only
 * checks. Each worker keeps its own revisions, loaded from the same source, so the ids agree; a
 * worker started after a revision was replaced does not hold it.
 */
export function carryOutPolicyCommand(policy: PolicyRegistry, command: PolicyCommand): string {
  if (policy.activeRevision()?.revision === command.revision) return command.revision;
  if (command.action === "rollback") {
    if (command.prepare) return policy.rollbackTarget(command.revision).revision;
    return policy.rollback(command.revision, command.operator).revision;
  }
  const candidate = policy.candidateRevision()?.revision;
  if (candidate !== command.revision) throw new TollgateError("config_error", `its candidate is ${candidate ?? "none"}, not ${command.revision}`);
  return command.prepare ? candidate : policy.promote(command.operator).revision;
}

/**
 * Every worker checks it can make the change; only if all can do they make it, so a refusal
 * leaves them all where they were. The answer names each worker that could not.
 */
async function everyWorker(broadcast: NonNullable<AppContextParts["broadcast"]>, command: PolicyCommand, previous: string | undefined) {
  for (const prepare of [true, false]) {
    const results = await broadcast({ ...command, prepare });
    const failed = results.filter((r) => r.revision !== command.revision);
    if (results.length > 0 && failed.length === 0) continue;
    const why = failed.map((r) => `worker ${r.worker} (pid ${r.pid}): ${r.error ?? `serves ${r.revision ?? "nothing"}`}`).join("; ");
    const what = prepare ? "refused, no worker changed" : `reached ${results.length - failed.length} of ${results.length} workers; /v1/status lists the revision each serves`;
    throw new TollgateError("config_error", `${command.action} to ${command.revision} ${what}: ${why || "no worker answered"}`);
  }
  return { revision: command.revision, ...(previous ? { previousRevision: previous } : {}) };
}

/** The running tollgate as the admin server sees it. */
export function appAdminContext(parts: AppContextParts): AdminContext {
  const { settings, policy, store } = parts;
  const startedAt = new Date().toISOString();
  // The self-test reads the running configuration, which changes only with the active revision
  // (settings and sinks are fixed at start): run it once per revision, not on every status poll.
  const evidence = new WeakMap<object, MaskingEvidence>();
  const noEngine = {};
  const masking = (): MaskingEvidence => {
    const key = policy.current() ?? noEngine;
    let e = evidence.get(key);
    if (!e) evidence.set(key, (e = maskingEvidence({ settings, engine: () => policy.current(), decisionLogs: parts.decisionLogs })));
    return e;
  };
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
          masking: masking(),
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
      const previous = policy.activeRevision()?.revision;
      if (parts.broadcast) return everyWorker(parts.broadcast, { action: "rollback", revision: revision ?? policy.rollbackTarget().revision, operator }, previous);
      const now = policy.rollback(revision, operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
    async promote(operator) {
      const previous = policy.activeRevision()?.revision;
      const candidate = policy.candidateRevision()?.revision;
      if (parts.broadcast && candidate) return everyWorker(parts.broadcast, { action: "promote", revision: candidate, operator }, previous);
      const now = policy.promote(operator);
      return { revision: now.revision, ...(previous ? { previousRevision: previous } : {}) };
    },
  };
}
