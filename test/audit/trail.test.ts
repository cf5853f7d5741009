import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AuditTrail, GENESIS_HASH, rfc8785Json, verifyAuditFile, type AuditEntry } from "../../src/audit/index.js";
import { TollgateError } from "../../src/errors.js";
import { SAMPLE, sha256, sortedJson, steppingClock, tempAuditFile, writeSample } from "./helpers.js";

/** The same record with "action" moved from first to last key. */
function actionLast(line: string): string {
  const { action, ...rest } = JSON.parse(line) as Record<string, unknown>;
  return JSON.stringify({ ...rest, action });
}

function lines(file: string): string[] {
  return readFileSync(file, "utf8").split("\n").slice(0, -1);
}

describe("AuditTrail – appending", () => {
  it("a missing file is an empty trail: read() is [], head is the genesis hash, verify says 0 records", () => {
    const file = tempAuditFile();
    const trail = AuditTrail.open(file);
    expect(trail.read()).toEqual([]);
    expect(trail.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
    expect(verifyAuditFile(file)).toEqual({ ok: true, count: 0, head: GENESIS_HASH });
  });

  it("writes one canonical JSON line per record with every field, null when unknown", () => {
    const file = tempAuditFile();
    const trail = AuditTrail.open(file, { now: () => new Date("2025-03-01T10:00:00Z") });
    const record = trail.append(SAMPLE[0]!);
    const content = {
      seq: 1,
      ts: "2025-03-01T10:00:00.000Z",
      action: "activation",
      source: "dir:/etc/tollgate/policies",
      revision: "rev-a",
      previous_revision: null,
      key_id: null,
      tests: { ran: true, passed: 12, failed: 0 },
      reason: null,
      operator: "alice",
      prev_hash: GENESIS_HASH,
    };
    const hash = sha256(sortedJson(content));
    expect(record).toEqual({ ...content, hash });
    expect(readFileSync(file, "utf8")).toBe(`${sortedJson({ ...content, hash })}\n`);
  });

  it("chains records: each prev_hash is the previous line's hash and seq counts up from 1", () => {
    const file = tempAuditFile();
    const records = writeSample(file).read();
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(records[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(records[1]!.prev_hash).toBe(records[0]!.hash);
    expect(records[2]!.prev_hash).toBe(records[1]!.hash);
    for (const r of records) {
      const { hash, ...content } = r;
      expect(hash).toBe(sha256(sortedJson(content)));
    }
    expect(verifyAuditFile(file)).toEqual({ ok: true, count: 3, head: records[2]!.hash });
  });

  it("continues the chain across re-opens and across two AuditTrail objects on one file", () => {
    const file = tempAuditFile();
    const one = AuditTrail.open(file, { fsync: false });
    const two = AuditTrail.open(file, { fsync: false });
    one.append(SAMPLE[0]!);
    two.append(SAMPLE[1]!);
    one.append(SAMPLE[2]!);
    AuditTrail.open(file).append({ action: "promotion", source: "candidate:bundle", revision: "rev-c", previousRevision: "rev-a" });
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, count: 4 });
    expect(two.head()).toEqual({ seq: 4, hash: one.read()[3]!.hash });
  });

  it("many appends issued together land as one unbroken chain", async () => {
    const file = tempAuditFile();
    const trail = AuditTrail.open(file, { fsync: false });
    await Promise.all(Array.from({ length: 200 }, (_, i) => Promise.resolve().then(() => trail.append({ action: "activation", source: "dir:p", revision: `r${i}` }))));
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, count: 200 });
    expect(new Set(trail.read().map((r) => r.revision)).size).toBe(200);
  });

  it("keeps details, and masks credentials in every text field", () => {
    const file = tempAuditFile();
    const r = AuditTrail.open(file).append({
      action: "rejection",
      source: "bundle:https://bundles.example/authz.tar.gz?token=abc123def",
      reason: "fetch failed: server said Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
      details: { diff: { allow_to_deny: 3 }, authorization: "Bearer zzzzzzzz" },
    });
    expect(r.source).toBe("bundle:https://bundles.example/authz.tar.gz?token=[REDACTED]");
    expect(r.reason).toBe("fetch failed: server said Authorization: Bearer [REDACTED]");
    expect(r.details).toEqual({ diff: { allow_to_deny: 3 }, authorization: "[REDACTED]" });
    expect(readFileSync(file, "utf8")).not.toMatch(/abc123def|eyJhbGci|zzzzzzzz/);
  });

  it.each<[string, unknown, RegExp]>([
    ["unknown action", { action: "deploy", source: "x" }, /action must be one of activation, rejection, rollback, promotion/],
    ["missing source", { action: "activation" }, /source is required/],
    ["empty source", { action: "activation", source: "" }, /source must not be empty/],
    ["a rejection without a reason", { action: "rejection", source: "x" }, /reason is required/],
    ["revision that is not a string", { action: "activation", source: "x", revision: 7 }, /revision must be a string/],
    ["negative test count", { action: "activation", source: "x", tests: { ran: true, passed: -1 } }, /tests.passed must be a non-negative integer/],
    ["tests without ran", { action: "activation", source: "x", tests: { passed: 1 } }, /tests.ran must be a boolean/],
    ["details that is an array", { action: "activation", source: "x", details: [1] }, /details must be an object/],
    ["details holding a non-JSON number", { action: "activation", source: "x", details: { n: Number.NaN } }, /details must hold only JSON values/],
  ])("refuses %s with a config_error and writes nothing", (_title, entry, message) => {
    const file = tempAuditFile();
    const trail = AuditTrail.open(file);
    let caught: unknown;
    try {
      trail.append(entry as AuditEntry);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).code).toBe("config_error");
    expect((caught as TollgateError).message).toMatch(message);
    expect(trail.read()).toEqual([]);
  });

  it("bounds every line: long text is cut with a note, oversized details are replaced by their size", () => {
    const file = tempAuditFile();
    const trail = AuditTrail.open(file, { maxLineBytes: 16 * 1024 });
    const r = trail.append({ action: "rejection", source: "x", reason: "e".repeat(5000), details: { blob: "d".repeat(20_000) } });
    expect(r.reason).toBe(`${"e".repeat(2048)}…[2952 more characters]`);
    expect(r.details).toEqual({ truncated: true, bytes: 20_011 });
    const worst = "\u0001".repeat(3000);
    const w = trail.append({ action: "rejection", source: worst, revision: worst, previousRevision: worst, keyId: worst, reason: worst, operator: worst, tests: { ran: true, summary: worst } });
    expect(w.source.length).toBeLessThan(400);
    for (const line of lines(file)) expect(Buffer.byteLength(line) + 1).toBeLessThanOrEqual(16 * 1024);
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, count: 2 });
  });

  it("refuses to extend a file whose last line is broken, naming the line", () => {
    const file = tempAuditFile();
    writeSample(file);
    appendFileSync(file, '{"seq":4,"ts":"2025');
    expect(() => AuditTrail.open(file)).toThrow(/line 4: line has no terminating newline/);
    writeFileSync(file, `${lines(file).slice(0, 2).join("\n")}\n{}\n`);
    expect(() => AuditTrail.open(file)).toThrow(/line 3: missing field seq/);
  });

  it("rejects a maxLineBytes too small to hold a record", () => {
    expect(() => AuditTrail.open(tempAuditFile(), { maxLineBytes: 1000 })).toThrow(/at least 4096/);
  });
});

describe("AuditTrail.read – time range", () => {
  const file = tempAuditFile();
  writeSample(file); // 2025-03-01, 03-02, 03-03 at 10:00Z
  const trail = AuditTrail.open(file);
  it.each<[string, { from?: string | Date; to?: string | Date }, number[]]>([
    ["no bounds", {}, [1, 2, 3]],
    ["from is inclusive", { from: "2025-03-02T10:00:00Z" }, [2, 3]],
    ["to is inclusive", { to: "2025-03-02T10:00:00.000Z" }, [1, 2]],
    ["both", { from: "2025-03-01T10:00:00.001Z", to: "2025-03-03T09:59:59Z" }, [2]],
    ["a date without time", { from: "2025-03-03" }, [3]],
    ["Date objects", { from: new Date("2025-03-02T00:00:00Z"), to: new Date("2025-03-02T23:59:59Z") }, [2]],
    ["an empty window", { from: "2025-04-01T00:00:00Z" }, []],
  ])("%s", (_t, range, seqs) => {
    expect(trail.read(range).map((r) => r.seq)).toEqual(seqs);
  });

  it.each(["yesterday", "", "03/02/2025"])("refuses the time %j with a config_error", (bad) => {
    expect(() => trail.read({ from: bad })).toThrow(/invalid from time .*expected ISO 8601/);
  });
});

describe("verifyAuditFile – tampering", () => {
  it("rejects a one-byte change at every single byte of the file, naming the line that holds it", () => {
    const file = tempAuditFile();
    writeSample(file);
    const original = readFileSync(file);
    const lineOf: number[] = [];
    let line = 1;
    for (const byte of original) {
      lineOf.push(line);
      if (byte === 10) line++;
    }
    const failures: string[] = [];
    for (let i = 0; i < original.length; i++) {
      for (const replacement of [original[i]! ^ 0x01, original[i] === 0x20 ? 0x09 : 0x20]) {
        const edited = Buffer.from(original);
        edited[i] = replacement;
        writeFileSync(file, edited);
        const result = verifyAuditFile(file);
        if (result.ok || result.line !== lineOf[i]) failures.push(`byte ${i} -> ${replacement}: ${JSON.stringify(result)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(original.length).toBeGreaterThan(1000);
  });

  it.each<[string, number, (l: string[]) => string[], RegExp]>([
    ["first line deleted", 1, (l) => l.slice(1), /seq is 2 where 1 was expected/],
    ["middle line deleted", 2, (l) => [l[0]!, l[2]!], /seq is 3 where 2 was expected/],
    ["two lines swapped", 2, (l) => [l[0]!, l[2]!, l[1]!], /seq is 3 where 2 was expected/],
    ["a line duplicated", 3, (l) => [l[0]!, l[1]!, l[1]!, l[2]!], /seq is 2 where 3 was expected/],
    ["an empty line inserted", 2, (l) => [l[0]!, "", l[1]!, l[2]!], /empty line/],
    ["keys reordered (same JSON value)", 2, (l) => [l[0]!, actionLast(l[1]!), l[2]!], /not in canonical form/],
    ["a space added after a colon (same JSON value)", 2, (l) => [l[0]!, l[1]!.replace('"seq":', '"seq": '), l[2]!], /not in canonical form/],
  ])("%s – fails at line %i", (_t, lineNo, edit, reason) => {
    const file = tempAuditFile();
    writeSample(file);
    writeFileSync(file, `${edit(lines(file)).join("\n")}\n`);
    const result = verifyAuditFile(file);
    expect(result).toMatchObject({ ok: false, line: lineNo });
    expect(result.ok ? "" : result.reason).toMatch(reason);
  });

  it("a rewritten line with a recomputed hash still breaks the link to the next line", () => {
    const file = tempAuditFile();
    writeSample(file);
    const l = lines(file);
    const forged = JSON.parse(l[1]!) as Record<string, unknown>;
    forged["reason"] = "nothing to see";
    delete forged["hash"];
    forged["hash"] = sha256(rfc8785Json(forged));
    writeFileSync(file, `${[l[0]!, rfc8785Json(forged), l[2]!].join("\n")}\n`);
    expect(verifyAuditFile(file)).toMatchObject({ ok: false, line: 3, reason: expect.stringMatching(/prev_hash does not match/) });
  });

  it("cutting lines off the end leaves a valid shorter chain: only a head kept elsewhere shows it", () => {
    const file = tempAuditFile();
    const head = writeSample(file).head();
    writeFileSync(file, `${lines(file).slice(0, 2).join("\n")}\n`);
    const result = verifyAuditFile(file);
    expect(result).toMatchObject({ ok: true, count: 2 });
    expect(result.ok && result.head).not.toBe(head.hash);
  });

  it("a line over the size bound is reported, not read into memory whole", () => {
    const file = tempAuditFile();
    writeSample(file);
    appendFileSync(file, `${"x".repeat(100_000)}\n`);
    expect(verifyAuditFile(file)).toEqual({ ok: false, line: 4, reason: "line is longer than 16384 bytes" });
  });

  it("bytes that are not UTF-8 are reported", () => {
    const file = tempAuditFile();
    writeSample(file);
    appendFileSync(file, Buffer.from([0xff, 0xfe, 0x0a]));
    expect(verifyAuditFile(file)).toEqual({ ok: false, line: 4, reason: "line is not valid UTF-8" });
  });

  it("a record appended by a later clock reading still verifies (ts order is not part of the chain)", () => {
    const file = tempAuditFile();
    const trail = AuditTrail.open(file, { now: steppingClock("2025-03-01T10:00:00Z", -1000) });
    trail.append(SAMPLE[0]!);
    trail.append(SAMPLE[2]!);
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, count: 2 });
  });
});
