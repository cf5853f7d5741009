import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { TollgateError } from "../errors.js";
import { readLines } from "./lines.js";
import { GENESIS_HASH, normalizeEntry, recordHash, serializeRecord, type AuditEntry, type AuditRecord } from "./record.js";
import { DEFAULT_MAX_LINE_BYTES, parseRecordLine } from "./verify.js";

export interface AuditTrailOptions {
  /** fsync after every append (default true: policy changes are rare and the record must survive a crash). */
  fsync?: boolean;
  /** Longest line written or accepted, newline included (default 16 KiB, at least 4 KiB). */
  maxLineBytes?: number;
  /** Clock for the ts field (tests). */
  now?: () => Date;
}

/** Inclusive time bounds on ts. Strings are ISO 8601 times. */
export interface AuditRange {
  from?: Date | string;
  to?: Date | string;
}

const MIN_LINE_BYTES = 4096;
const STRING_FIELDS = 7;
// JSON escapes a control character as \u00XX: six bytes for one character.
const WORST_BYTES_PER_CHAR = 6;

function timeBound(value: Date | string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new TollgateError("config_error", `invalid ${name} time ${JSON.stringify(String(value))}: expected ISO 8601, e.g. 2025-01-31T12:00:00Z`);
  return ms;
}

/**
 * Append-only JSON-lines record of policy changes, chained by SHA-256: each line carries the
 * previous line's hash and its own hash over its canonical content. Appends are synchronous, so
 * calls within one process never interleave; the tail is re-read from disk on every append, so
 * several AuditTrail objects on one file stay on one chain. Two processes must not append at once.
 */
export class AuditTrail {
  readonly file: string;
  private readonly fsync: boolean;
  private readonly maxLineBytes: number;
  private readonly now: () => Date;

  private constructor(file: string, options: AuditTrailOptions) {
    this.file = file;
    this.fsync = options.fsync ?? true;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.now = options.now ?? (() => new Date());
    if (!Number.isInteger(this.maxLineBytes) || this.maxLineBytes < MIN_LINE_BYTES) {
      throw new TollgateError("config_error", `audit maxLineBytes must be an integer of at least ${MIN_LINE_BYTES}`);
    }
  }

  /** Opens a trail; a missing file is an empty trail. Throws config_error when the last line is not a sound record. */
  static open(file: string, options: AuditTrailOptions = {}): AuditTrail {
    const trail = new AuditTrail(path.resolve(file), options);
    trail.tail();
    return trail;
  }

  /** seq and hash of the last record (0 and the genesis hash when empty). Keep head hashes elsewhere to detect a cut-off end. */
  head(): { seq: number; hash: string } {
    return this.tail();
  }

  append(entry: AuditEntry): AuditRecord {
    const prev = this.tail();
    const at = this.now();
    if (Number.isNaN(at.getTime())) throw new TollgateError("internal_error", "audit clock returned an invalid date");
    const build = (maxFieldChars: number, maxDetailsBytes: number): { record: AuditRecord; line: string } => {
      const record: AuditRecord = { seq: prev.seq + 1, ts: at.toISOString(), ...normalizeEntry(entry, { maxFieldChars, maxDetailsBytes }), prev_hash: prev.hash, hash: "" };
      record.hash = recordHash(record);
      return { record, line: `${serializeRecord(record)}\n` };
    };
    let built = build(2048, Math.floor(this.maxLineBytes / 2));
    if (Buffer.byteLength(built.line) > this.maxLineBytes) {
      built = build(Math.floor((this.maxLineBytes - 1024) / (STRING_FIELDS * WORST_BYTES_PER_CHAR)), 0);
    }
    if (Buffer.byteLength(built.line) > this.maxLineBytes) throw new TollgateError("internal_error", `audit record does not fit in ${this.maxLineBytes} bytes`);
    this.write(built.line);
    return built.record;
  }

  /** Records in file order, filtered by ts. Throws config_error naming the line when one is not a sound record. */
  read(range: AuditRange = {}): AuditRecord[] {
    const from = timeBound(range.from, "from");
    const to = timeBound(range.to, "to");
    const out: AuditRecord[] = [];
    for (const line of readLines(this.file, this.maxLineBytes)) {
      const parsed = parseRecordLine(line, this.maxLineBytes);
      if ("reason" in parsed) throw new TollgateError("config_error", `audit file ${this.file} line ${line.number}: ${parsed.reason}`);
      const ts = Date.parse(parsed.record.ts);
      if ((from === undefined || ts >= from) && (to === undefined || ts <= to)) out.push(parsed.record);
    }
    return out;
  }

  private tail(): { seq: number; hash: string } {
    let last: ReturnType<typeof parseRecordLine> | undefined;
    let number = 0;
    for (const line of readLines(this.file, this.maxLineBytes)) {
      last = parseRecordLine(line, this.maxLineBytes);
      number = line.number;
    }
    if (last === undefined) return { seq: 0, hash: GENESIS_HASH };
    if ("reason" in last) {
      throw new TollgateError("config_error", `audit file ${this.file} line ${number}: ${last.reason}; run \`tollgate audit verify\` before appending`);
    }
    return { seq: last.record.seq, hash: last.record.hash };
  }

  private write(line: string): void {
    const bytes = Buffer.from(line, "utf8");
    let fd: number | undefined;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      fd = openSync(this.file, "a", 0o640);
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      if (this.fsync) fsyncSync(fd);
    } catch (err) {
      throw new TollgateError("internal_error", `cannot append to audit file ${this.file}: ${(err as Error).message}`, { cause: err });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}
