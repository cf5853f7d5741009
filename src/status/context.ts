import type { TenantUsage } from "../authz/usage.js";
import type { TlsInfo } from "../tls/certificates.js";
import type { MaskingEvidence } from "../observability/mask-self-test.js";

/** One policy source as the status endpoint shows it. */
export interface PolicySourceStatus {
  /** "active" or "candidate" (shadow). */
  role: "active" | "candidate";
  /** e.g. "local", "bundle-file", "bundle-http". */
  kind: string;
  /** Folder, file or URL (without credentials). */
  location: string;
  revision?: string;
  lastSuccessAt?: string;
  lastError?: string;
}

export interface LimitStoreStatus {
  kind: "memory" | "redis" | "redis-cluster";
  /** "ready": answering; "connecting"/"unavailable": limits follow their failure_mode. */
  state: "ready" | "connecting" | "unavailable";
  lastError?: string;
}

/** The settings an auditor asks about. Booleans and names only: never keys, tokens or file contents. */
export interface SecurityStatus {
  grpcTls: { enabled: boolean; clientCertRequired: boolean; certificate?: TlsInfo };
  /** The masking settings of the running process and the self-test that ran on them just now. */
  masking: MaskingEvidence;
  /** Bundles must carry a valid .signatures.json to activate. */
  bundleSignatureVerification: boolean;
  /** Denials are logged but not enforced. */
  dryRun: boolean;
}

export interface FailModes {
  /** What Check answers when a decision cannot be made: a gRPC error (Envoy's failure_mode_allow decides) or a 403. */
  decisionError: "error" | "deny";
  /** Default for policy-declared limits when the limit store is down; each limit may override it. */
  limitStoreDefault: "allow" | "deny";
}

export interface AdminStatus {
  ready: boolean;
  startedAt: string;
  policy: {
    activeRevision?: string;
    candidateRevision?: string;
    /** Revisions kept for rollback, newest first. */
    revisions: string[];
    /** The newest refused update when nothing has activated since: the last good revision keeps serving. */
    lastRejection?: { at: string; source: string; reason: string; revision?: string };
  };
  sources: PolicySourceStatus[];
  /** Under `--workers`: each worker's process and active revision (all equal once a reload has reached every worker). */
  workers?: { id: number; pid: number; revision?: string }[];
  limitStore: LimitStoreStatus;
  failModes: FailModes;
  security: SecurityStatus;
}

export type PolicyEventKind = "activated" | "rejected" | "rolled_back" | "promoted";

export interface PolicyHistoryEntry {
  /** ISO 8601 time. */
  at: string;
  event: PolicyEventKind;
  revision?: string;
  previousRevision?: string;
  source?: string;
  operator?: string;
  /** Why a revision was rejected. */
  reason?: string;
}

export interface PolicyChange {
  revision: string;
  previousRevision?: string;
}

/**
 * What the admin server needs from the running tollgate. The app implements it; the admin server
 * only reads through it and passes operator identities along. rollback() and promote() must write
 * the audit trail record (with the operator) themselves, before they resolve, and reject with a
 * TollgateError: config_error for a bad request (unknown revision, no candidate), policy_build_error
 * when the revision cannot be activated.
 */
export interface AdminContext {
  /** Ready = a policy revision is loaded and Check can answer. */
  ready(): boolean;
  status(): Promise<AdminStatus>;
  /** Newest first. */
  history(): Promise<PolicyHistoryEntry[]>;
  /** Current usage of configured tenants against their limits (no request ids, no keys). */
  usage(): Promise<TenantUsage[]>;
  rollback(revision: string | undefined, operator: string): Promise<PolicyChange>;
  promote(operator: string): Promise<PolicyChange>;
}
