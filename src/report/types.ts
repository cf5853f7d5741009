import type { FailModes } from "../status/context.js";
import type { MaskingEvidence } from "../observability/mask-self-test.js";
import type { DecisionTotals, RateLimitTotals } from "../observability/metric-values.js";

export const CONTROLS = {
  least_privilege: { title: "Least privilege (RBAC)", summary: "Only authorised callers and operators can use or change tollgate; policy decides per request." },
  change_management: { title: "Change management", summary: "Policy changes are tested, verified, recorded and attributable." },
  logging_monitoring: { title: "Logging and monitoring", summary: "Decisions are counted and logged without exposing credentials." },
  encryption_in_transit: { title: "Encryption in transit", summary: "The channels to tollgate are encrypted and the peers authenticated." },
  abuse_prevention: { title: "Abuse prevention", summary: "Usage is limited and the behaviour under failure is known." },
} as const;

export type ControlId = keyof typeof CONTROLS;
export const CONTROL_IDS = Object.keys(CONTROLS) as ControlId[];

/** pass: the evidence shows the control working; fail: it shows a gap; warn: partly; info: context only; unknown: no evidence. */
export type ItemStatus = "pass" | "fail" | "warn" | "info" | "unknown";

export interface ReportItem {
  id: string;
  control: ControlId;
  title: string;
  status: ItemStatus;
  evidence: string;
  source: "audit trail" | "metrics" | "configuration" | "self-test";
}

export interface AuditRecordView {
  seq: number;
  ts: string;
  action: string;
  source: string;
  revision: string | null;
  previousRevision: string | null;
  keyId: string | null;
  tests: { ran: boolean; passed?: number; failed?: number } | null;
  reason: string | null;
  operator: string | null;
}

export interface AuditEvidence {
  /** undefined when no audit file was given. */
  file?: string;
  /** "verified": the whole chain checks out; "tampered": it breaks at brokenAt; "missing": no file, or it does not exist; "empty": exists with no records. */
  chain: "verified" | "tampered" | "missing" | "empty";
  recordCount: number;
  /** Hash of the last record, to compare with a copy kept elsewhere. */
  head?: string;
  brokenAt?: { line: number; reason: string };
  /** Records inside the window that could be read; with a broken chain, those from brokenAt on are marked unverified. */
  records: (AuditRecordView & { verified: boolean })[];
}

export interface DecisionEvidence {
  /** Counters run from process start; the window does not narrow them. */
  since: string;
  totals: DecisionTotals;
  /** Per configured tenant, when the tenant metric exists. */
  byTenant?: Record<string, Record<string, number>>;
}

export interface ConfigEvidence {
  grpcTls: { enabled: boolean; clientCertRequired: boolean; subject?: string; notAfter?: string };
  adminTls: boolean;
  adminTokenRequired: boolean;
  adminAddr: string;
  /** Bound to 127.0.0.1, ::1 or localhost only. */
  adminLoopbackOnly: boolean;
  /** Masking settings read from the running process, and the self-test run on them for this report. */
  masking: MaskingEvidence;
  bundleSignatureVerification: boolean;
  dryRun: boolean;
  failModes: FailModes;
  limitStore: { kind: string; state: string };
  activeRevision?: string;
}

export interface ReportInputs {
  generatedAt: string;
  window: { from: string; to: string };
  audit: AuditEvidence;
  /** Absent when the report was built without a running tollgate (audit file only). */
  decisions?: DecisionEvidence;
  rateLimits?: RateLimitTotals;
  config?: ConfigEvidence;
}

export interface ControlSummary {
  id: ControlId;
  title: string;
  summary: string;
  status: ItemStatus;
  items: string[];
}

export interface ComplianceReport extends ReportInputs {
  title: string;
  controls: ControlSummary[];
  items: ReportItem[];
  /** What the report cannot prove, in plain words. */
  limitations: string[];
}

export type ReportFormat = "html" | "json" | "csv";
export const REPORT_FORMATS: readonly ReportFormat[] = ["html", "json", "csv"];
