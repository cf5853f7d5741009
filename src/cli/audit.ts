import { existsSync } from "node:fs";
import type { Command } from "commander";
import { AuditTrail } from "../audit/trail.js";
import { serializeRecord, type AuditRecord } from "../audit/record.js";
import { verifyAuditFile } from "../audit/verify.js";

export const DEFAULT_AUDIT_FILE = "tollgate-audit.jsonl";

function defaultFile(): string {
  return process.env["TOLLGATE_AUDIT_FILE"] || DEFAULT_AUDIT_FILE;
}

function field(name: string, value: string | number | null | undefined): string {
  if (value === null || value === undefined) return "";
  const s = String(value);
  return ` ${name}=${/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s)}`;
}

function describe(r: AuditRecord): string {
  const tests = r.tests
    ? r.tests.ran
      ? r.tests.passed !== undefined
        ? `${r.tests.passed} passed/${r.tests.failed ?? 0} failed`
        : "ran"
      : "not run"
    : null;
  return (
    `#${r.seq} ${r.ts} ${r.action}` +
    field("revision", r.revision) +
    field("previous", r.previous_revision) +
    field("source", r.source) +
    field("key_id", r.key_id) +
    field("tests", tests) +
    field("operator", r.operator) +
    field("reason", r.reason)
  );
}

/** `tollgate audit verify|show`: check and print the policy-change audit trail. */
export function registerAudit(program: Command): void {
  const audit = program.command("audit").description("the hash-chained audit trail of policy changes");
  audit
    .command("verify")
    .description("check every line's hash and the chain; exit 1 naming the first bad line")
    .option("--file <path>", "audit file (default $TOLLGATE_AUDIT_FILE or ./tollgate-audit.jsonl)")
    .option("--json", "print the result as JSON")
    .action((opts: { file?: string; json?: boolean }) => {
      const file = opts.file ?? defaultFile();
      const result = verifyAuditFile(file);
      if (opts.json) process.stdout.write(`${JSON.stringify({ file, ...result })}\n`);
      if (result.ok) {
        const note = existsSync(file) ? "" : " (the file does not exist yet)";
        if (!opts.json) process.stdout.write(`${file}: ${result.count} records, chain intact, head ${result.head}${note}\n`);
      } else {
        if (!opts.json) process.stderr.write(`tollgate: ${file} is broken at line ${result.line}: ${result.reason}\n`);
        process.exitCode = 1;
      }
    });
  audit
    .command("show")
    .description("print the records, oldest first (use verify to check the chain)")
    .option("--file <path>", "audit file (default $TOLLGATE_AUDIT_FILE or ./tollgate-audit.jsonl)")
    .option("--from <time>", "only records at or after this ISO 8601 time")
    .option("--to <time>", "only records at or before this ISO 8601 time")
    .option("--json", "print each record as its JSON line, exactly as stored")
    .action((opts: { file?: string; from?: string; to?: string; json?: boolean }) => {
      const trail = AuditTrail.open(opts.file ?? defaultFile());
      const records = trail.read({ ...(opts.from !== undefined ? { from: opts.from } : {}), ...(opts.to !== undefined ? { to: opts.to } : {}) });
      const out = records.map((r) => (opts.json ? serializeRecord(r) : describe(r)));
      if (out.length > 0) process.stdout.write(`${out.join("\n")}\n`);
      else if (!opts.json) process.stderr.write("no audit records\n");
    });
}
