import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { tempAuditFile, writeSample } from "./helpers.js";

// These run the built CLI (bin/tollgate.mjs → dist/): `npm run build` first.

function sampleFile(): { file: string; bytes: Buffer; lines: string[] } {
  const file = tempAuditFile();
  writeSample(file);
  const bytes = readFileSync(file);
  return { file, bytes, lines: bytes.toString("utf8").split("\n").slice(0, -1) };
}

describe("tollgate audit verify", () => {
  it("an intact trail – exit 0 and the record count", () => {
    const { file } = sampleFile();
    const r = runCli(["audit", "verify", "--file", file]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 3 records, chain intact, head [0-9a-f]{64}\\n$`));
  });

  it("a missing file is an empty, intact trail, and the output says the file is missing", () => {
    const r = runCli(["audit", "verify", "--file", tempAuditFile()]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/: 0 records, chain intact, head 0{64} \(the file does not exist yet\)\n$/);
  });

  it("reads the file from TOLLGATE_AUDIT_FILE when --file is absent", () => {
    const { file } = sampleFile();
    const r = runCli(["audit", "verify"], { TOLLGATE_AUDIT_FILE: file });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/: 3 records/);
  });

  // Positions: the first byte, a revision character on line 2, the last hash digit of line 3, the final newline.
  it.each<[string, number, (b: Buffer, lines: string[]) => number]>([
    ["the opening brace of line 1", 1, () => 0],
    ["a character of line 2's revision", 2, (b) => b.indexOf('"rev-b"') + 5],
    ["the last digit of line 3's own hash", 3, (b) => b.lastIndexOf('"hash":"') + 8 + 63],
    ["the newline ending line 1", 1, (_b, l) => Buffer.byteLength(l[0]!)],
    ["the newline ending the file", 3, (b) => b.length - 1],
  ])("a one-byte edit at %s – exit 1 naming line %i", (_t, line, position) => {
    const { file, bytes, lines } = sampleFile();
    const at = position(bytes, lines);
    const edited = Buffer.from(bytes);
    edited[at] = edited[at] === 0x61 ? 0x62 : 0x61;
    writeFileSync(file, edited);
    const r = runCli(["audit", "verify", "--file", file]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(new RegExp(`is broken at line ${line}: `));
  });

  it.each<[string, (l: string[]) => string[], number, string]>([
    ["a deleted line", (l) => [l[0]!, l[2]!], 2, "seq is 3 where 2 was expected (a line was removed, inserted or moved)"],
    ["a reordered line", (l) => [l[1]!, l[0]!, l[2]!], 1, "seq is 2 where 1 was expected (a line was removed, inserted or moved)"],
  ])("%s – exit 1 with the first bad line", (_t, edit, line, reason) => {
    const { file, lines } = sampleFile();
    writeFileSync(file, `${edit(lines).join("\n")}\n`);
    const r = runCli(["audit", "verify", "--file", file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`tollgate: ${file} is broken at line ${line}: ${reason}\n`);
  });

  it("--json prints the result object, with exit 1 when broken", () => {
    const { file, lines } = sampleFile();
    writeFileSync(file, `${lines[0]}\n${lines[2]}\n`);
    const r = runCli(["audit", "verify", "--file", file, "--json"]);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ file, ok: false, line: 2, reason: "seq is 3 where 2 was expected (a line was removed, inserted or moved)" });
  });
});

describe("tollgate audit show", () => {
  // SAMPLE records are at 2025-03-01, 03-02 and 03-03, 10:00Z.
  it.each<[string, string[], number[]]>([
    ["everything", [], [1, 2, 3]],
    ["--from (inclusive)", ["--from", "2025-03-02T10:00:00Z"], [2, 3]],
    ["--to (inclusive)", ["--to", "2025-03-02T10:00:00Z"], [1, 2]],
    ["--from and --to", ["--from", "2025-03-02T00:00:00Z", "--to", "2025-03-02T23:59:59Z"], [2]],
  ])("filters by time: %s", (_t, args, seqs) => {
    const { file, lines } = sampleFile();
    const r = runCli(["audit", "show", "--file", file, "--json", ...args]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(seqs.map((s) => `${lines[s - 1]}\n`).join(""));
  });

  it("prints one readable line per record", () => {
    const { file } = sampleFile();
    const r = runCli(["audit", "show", "--file", file]);
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      "#1 2025-03-01T10:00:00.000Z activation revision=rev-a source=dir:/etc/tollgate/policies tests=\"12 passed/0 failed\" operator=alice",
      "#2 2025-03-02T10:00:00.000Z rejection revision=rev-b previous=rev-a source=bundle:http://bundles.local/authz.tar.gz key_id=ops-2025 reason=\"signature: wrong key\"",
      "#3 2025-03-03T10:00:00.000Z rollback revision=rev-a previous=rev-a source=admin operator=bob",
      "",
    ]);
  });

  it("an empty window prints nothing on stdout", () => {
    const { file } = sampleFile();
    const r = runCli(["audit", "show", "--file", file, "--from", "2030-01-01T00:00:00Z"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("no audit records\n");
  });

  it("a bad --from – exit 2 with one clear line", () => {
    const { file } = sampleFile();
    const r = runCli(["audit", "show", "--file", file, "--from", "last tuesday"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('tollgate: invalid from time "last tuesday": expected ISO 8601, e.g. 2025-01-31T12:00:00Z\n');
  });

  it("an unreadable record – exit 2 naming the line", () => {
    const { file, lines } = sampleFile();
    writeFileSync(file, `${lines[0]}\nnot json\n${lines[2]}\n`);
    const r = runCli(["audit", "show", "--file", file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/line 2: line is not valid JSON/);
  });
});
