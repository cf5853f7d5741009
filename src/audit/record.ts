import { createHash } from "node:crypto";
import { TollgateError } from "../errors.js";
import { maskString, maskValue } from "../observability/mask.js";
import { rfc8785Json } from "./rfc8785-json.js";
import { isPlainObject } from "../json.js";

export const AUDIT_ACTIONS = ["activation", "rejection", "rollback", "promotion"] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The prev_hash of the first record. */
export const GENESIS_HASH = "0".repeat(64);

/** What `opa test` (or another check) said about the revision. */
export interface AuditTests {
  ran: boolean;
  passed?: number;
  failed?: number;
  summary?: string;
}

/** One policy change, as the caller describes it. */
export interface AuditEntry {
  action: AuditAction;
  /** Where the revision came from, e.g. "bundle:https://bundles.example/authz.tar.gz" or "dir:/etc/tollgate/policies". */
  source: string;
  revision?: string | undefined;
  previousRevision?: string | undefined;
  /** Key id (kid) that signed the bundle, when it was verified. */
  keyId?: string | undefined;
  tests?: AuditTests | undefined;
  /** Required for a rejection: why the revision was refused. */
  reason?: string | undefined;
  /** Who triggered the change, when the trigger carried an identity. */
  operator?: string | undefined;
  /** Small JSON extras (e.g. the shadow diff counts behind a promotion). */
  details?: Record<string, unknown> | undefined;
}

/** One line of the audit file. Every field is always present (null when unknown) except details. */
export interface AuditRecord {
  seq: number;
  ts: string;
  action: AuditAction;
  source: string;
  revision: string | null;
  previous_revision: string | null;
  key_id: string | null;
  tests: AuditTests | null;
  reason: string | null;
  operator: string | null;
  details?: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

const RECORD_KEYS = new Set(["seq", "ts", "action", "source", "revision", "previous_revision", "key_id", "tests", "reason", "operator", "details", "prev_hash", "hash"]);
const TESTS_KEYS = new Set(["ran", "passed", "failed", "summary"]);
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function bad(message: string): never {
  throw new TollgateError("config_error", `audit entry: ${message}`);
}

export interface FieldLimits {
  maxFieldChars: number;
  maxDetailsBytes: number;
}

/** Masks credentials and caps the length; long text keeps its head and says how much was cut. */
function text(value: unknown, field: string, required: boolean, max: number): string | null {
  if (value === undefined || value === null) return required ? bad(`${field} is required`) : null;
  if (typeof value !== "string") bad(`${field} must be a string`);
  if (required && value === "") bad(`${field} must not be empty`);
  const masked = maskString(value);
  if (masked.length <= max) return masked;
  return `${masked.slice(0, max)}…[${masked.length - max} more characters]`;
}

function count(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) bad(`${field} must be a non-negative integer`);
  return value;
}

function tests(value: AuditTests | undefined, max: number): AuditTests | null {
  if (value === undefined) return null;
  if (typeof value !== "object" || value === null || typeof value.ran !== "boolean") bad("tests.ran must be a boolean");
  const out: AuditTests = { ran: value.ran };
  const passed = count(value.passed, "tests.passed");
  const failed = count(value.failed, "tests.failed");
  if (passed !== undefined) out.passed = passed;
  if (failed !== undefined) out.failed = failed;
  const summary = text(value.summary, "tests.summary", false, max);
  if (summary !== null) out.summary = summary;
  return out;
}

function details(value: Record<string, unknown> | undefined, maxBytes: number): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad("details must be an object");
  const masked = maskValue(value) as Record<string, unknown>;
  let encoded: string;
  try {
    encoded = rfc8785Json(masked);
  } catch (err) {
    bad(`details must hold only JSON values (${(err as Error).message})`);
  }
  const size = Buffer.byteLength(encoded);
  return size <= maxBytes ? masked : { truncated: true, bytes: size };
}

/** Turns a caller's entry into the record fields (all but seq, ts and the hashes). Throws config_error on bad input. */
export function normalizeEntry(entry: AuditEntry, limits: FieldLimits): Omit<AuditRecord, "seq" | "ts" | "prev_hash" | "hash"> {
  if (typeof entry !== "object" || entry === null) bad("expected an object");
  if (!(AUDIT_ACTIONS as readonly unknown[]).includes(entry.action)) bad(`action must be one of ${AUDIT_ACTIONS.join(", ")}`);
  const max = limits.maxFieldChars;
  const out: Omit<AuditRecord, "seq" | "ts" | "prev_hash" | "hash"> = {
    action: entry.action,
    source: text(entry.source, "source", true, max)!,
    revision: text(entry.revision, "revision", false, max),
    previous_revision: text(entry.previousRevision, "previousRevision", false, max),
    key_id: text(entry.keyId, "keyId", false, max),
    tests: tests(entry.tests, max),
    reason: text(entry.reason, "reason", entry.action === "rejection", max),
    operator: text(entry.operator, "operator", false, max),
  };
  const extra = details(entry.details, limits.maxDetailsBytes);
  if (extra !== undefined) out.details = extra;
  return out;
}

/** SHA-256 over the canonical JSON of the record without its own hash (prev_hash included: that is the chain). */
export function recordHash(record: Omit<AuditRecord, "hash">): string {
  const { hash: _ignored, ...content } = record as AuditRecord;
  return createHash("sha256").update(rfc8785Json(content)).digest("hex");
}

export function serializeRecord(record: AuditRecord): string {
  return rfc8785Json(record);
}


function nullableString(r: Record<string, unknown>, key: string): string | undefined {
  const v = r[key];
  return v === null || typeof v === "string" ? undefined : `${key} must be a string or null`;
}

function testsProblem(v: unknown): string | undefined {
  if (v === null) return undefined;
  if (!isPlainObject(v) || typeof v["ran"] !== "boolean") return "tests must be null or an object with a boolean ran";
  for (const k of Object.keys(v)) if (!TESTS_KEYS.has(k)) return `tests has an unknown field ${k}`;
  for (const k of ["passed", "failed"]) {
    const n = v[k];
    if (n !== undefined && (typeof n !== "number" || !Number.isInteger(n) || n < 0)) return `tests.${k} must be a non-negative integer`;
  }
  if (v["summary"] !== undefined && typeof v["summary"] !== "string") return "tests.summary must be a string";
  return undefined;
}

/** Why a parsed line is not a well-formed record, or undefined when it is. Says nothing about the chain. */
export function recordShapeProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return "not a JSON object";
  for (const k of Object.keys(value)) if (!RECORD_KEYS.has(k)) return `unknown field ${k}`;
  for (const k of RECORD_KEYS) if (k !== "details" && !(k in value)) return `missing field ${k}`;
  const seq = value["seq"];
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return "seq must be a positive integer";
  if (typeof value["ts"] !== "string" || !ISO_UTC.test(value["ts"]) || Number.isNaN(Date.parse(value["ts"]))) return "ts must be an ISO 8601 UTC time";
  if (!(AUDIT_ACTIONS as readonly unknown[]).includes(value["action"])) return "unknown action";
  if (typeof value["source"] !== "string" || value["source"] === "") return "source must be a non-empty string";
  for (const k of ["revision", "previous_revision", "key_id", "reason", "operator"]) {
    const problem = nullableString(value, k);
    if (problem) return problem;
  }
  if (value["action"] === "rejection" && typeof value["reason"] !== "string") return "a rejection must carry a reason";
  const tp = testsProblem(value["tests"]);
  if (tp) return tp;
  if (value["details"] !== undefined && !isPlainObject(value["details"])) return "details must be an object";
  for (const k of ["prev_hash", "hash"]) if (typeof value[k] !== "string" || !HEX64.test(value[k])) return `${k} must be 64 lowercase hex digits`;
  return undefined;
}
