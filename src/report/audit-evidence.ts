import { existsSync } from "node:fs";
import { readLines } from "../audit/lines.js";
import { GENESIS_HASH, recordShapeProblem, type AuditRecord } from "../audit/record.js";
import { chainProblem, DEFAULT_MAX_LINE_BYTES, parseRecordLine, verifyAuditFile } from "../audit/verify.js";
import type { AuditEvidence, AuditRecordView } from "./types.js";

/** At most this many records of the window go into a report; the count says if more exist. */
export const MAX_REPORT_RECORDS = 5000;

function view(r: AuditRecord): AuditRecordView {
  return {
    seq: r.seq, ts: r.ts, action: r.action, source: r.source, revision: r.revision, previousRevision: r.previous_revision,
    keyId: r.key_id, tests: r.tests ? { ran: r.tests.ran, ...(r.tests.passed !== undefined ? { passed: r.tests.passed } : {}), ...(r.tests.failed !== undefined ? { failed: r.tests.failed } : {}) } : null,
    reason: r.reason, operator: r.operator,
  };
}

function claimed(text: string): AuditRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return recordShapeProblem(value) === undefined ? (value as AuditRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies the audit file's hash chain and lists the records inside the window. A broken chain does
 * not hide the records: they are still listed (where their lines parse), marked unverified from the
 * break on, so a reader sees what the file claims and that it cannot be trusted.
 */
export function auditEvidence(file: string | undefined, window: { from: string; to: string }): AuditEvidence {
  if (file === undefined || !existsSync(file)) return { ...(file ? { file } : {}), chain: "missing", recordCount: 0, records: [] };
  const verdict = verifyAuditFile(file);
  const from = Date.parse(window.from);
  const to = Date.parse(window.to);
  const records: AuditEvidence["records"] = [];
  let prev = { seq: 0, hash: GENESIS_HASH };
  let count = 0;
  for (const line of readLines(file, DEFAULT_MAX_LINE_BYTES)) {
    const parsed = parseRecordLine(line, DEFAULT_MAX_LINE_BYTES);
    // An edited line fails its own hash but still says what it claims; show it, unverified.
    const r = "record" in parsed ? parsed.record : claimed(line.text);
    if (!r) continue;
    count++;
    const linked = "record" in parsed && chainProblem(prev, r) === undefined;
    prev = r;
    const verified = verdict.ok || (linked && line.number < verdict.line);
    const t = Date.parse(r.ts);
    if (t >= from && t <= to && records.length < MAX_REPORT_RECORDS) records.push({ ...view(r), verified });
  }
  if (verdict.ok) {
    return verdict.count === 0
      ? { file, chain: "empty", recordCount: 0, records }
      : { file, chain: "verified", recordCount: verdict.count, head: verdict.head, records };
  }
  return { file, chain: "tampered", recordCount: count, brokenAt: { line: verdict.line, reason: verdict.reason }, records };
}
