import { rfc8785Json } from "./rfc8785-json.js";
import { readLines, type FileLine } from "./lines.js";
import { GENESIS_HASH, recordHash, recordShapeProblem, type AuditRecord } from "./record.js";

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

export type VerifyResult = { ok: true; count: number; head: string } | { ok: false; line: number; reason: string };

/** Reads one line as a record whose own hash checks out, or says why it is not one. Chain links are checked by the caller. */
export function parseRecordLine(line: FileLine, maxLineBytes: number): { record: AuditRecord } | { reason: string } {
  if (line.tooLong) return { reason: `line is longer than ${maxLineBytes} bytes` };
  if (line.badUtf8) return { reason: "line is not valid UTF-8" };
  if (!line.terminated) return { reason: "line has no terminating newline (an interrupted write, or the file was cut)" };
  if (line.text === "") return { reason: "empty line" };
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch {
    return { reason: "line is not valid JSON" };
  }
  const problem = recordShapeProblem(value);
  if (problem) return { reason: problem };
  const record = value as AuditRecord;
  if (rfc8785Json(record) !== line.text) return { reason: "line is not in canonical form (it was edited)" };
  if (recordHash(record) !== record.hash) return { reason: "hash does not match the line's content (it was edited)" };
  return { record };
}

/** Checks the next record continues the chain after prev (seq 0 / GENESIS_HASH before the first). */
export function chainProblem(prev: { seq: number; hash: string }, record: AuditRecord): string | undefined {
  if (record.seq !== prev.seq + 1) return `seq is ${record.seq} where ${prev.seq + 1} was expected (a line was removed, inserted or moved)`;
  if (record.prev_hash !== prev.hash) return "prev_hash does not match the previous line's hash (a line was removed, inserted or moved)";
  return undefined;
}

/**
 * Verifies the whole hash chain. A missing file is an empty, valid trail. Removing lines from the
 * end cannot be detected from the file alone: compare `head` with a copy kept elsewhere for that.
 */
export function verifyAuditFile(file: string, options: { maxLineBytes?: number } = {}): VerifyResult {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  let prev = { seq: 0, hash: GENESIS_HASH };
  for (const line of readLines(file, maxLineBytes)) {
    const parsed = parseRecordLine(line, maxLineBytes);
    if ("reason" in parsed) return { ok: false, line: line.number, reason: parsed.reason };
    const problem = chainProblem(prev, parsed.record);
    if (problem) return { ok: false, line: line.number, reason: problem };
    prev = parsed.record;
  }
  return { ok: true, count: prev.seq, head: prev.hash };
}
