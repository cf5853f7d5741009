import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { AuditTrail, type AuditEntry } from "../../src/audit/index.js";

export function tempAuditFile(): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), "tg-audit-")), "audit.jsonl");
}

/** A clock that starts at `start` and moves `stepMs` per call. */
export function steppingClock(start: string, stepMs: number): () => Date {
  let t = Date.parse(start) - stepMs;
  return () => new Date((t += stepMs));
}

/** Canonical JSON written independently of the code under test: keys sorted recursively, no spaces. */
export function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export const SAMPLE: AuditEntry[] = [
  { action: "activation", source: "dir:/etc/tollgate/policies", revision: "rev-a", tests: { ran: true, passed: 12, failed: 0 }, operator: "alice" },
  { action: "rejection", source: "bundle:http://bundles.local/authz.tar.gz", revision: "rev-b", previousRevision: "rev-a", keyId: "ops-2025", reason: "signature: wrong key" },
  { action: "rollback", source: "admin", revision: "rev-a", previousRevision: "rev-a", operator: "bob" },
];

/** Writes the three SAMPLE records a day apart from 2025-03-01T10:00:00Z. */
export function writeSample(file: string): AuditTrail {
  const trail = AuditTrail.open(file, { now: steppingClock("2025-03-01T10:00:00.000Z", 86_400_000), fsync: false });
  for (const e of SAMPLE) trail.append(e);
  return trail;
}
