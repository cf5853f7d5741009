import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { TollgateError } from "../errors.js";
import { auditEvidence } from "../report/audit-evidence.js";
import { buildReport } from "../report/build.js";
import { offlineReportInputs } from "../report/collect.js";
import { fetchRemoteReport } from "../report/fetch-remote.js";
import { parseFormat, renderReport } from "../report/render.js";
import type { ReportInputs } from "../report/types.js";
import { reportWindow } from "../report/window.js";
import { adminToken, defaultAdminUrl, defaultLocalTokenDir } from "./admin-target.js";

interface ReportFlags {
  from?: string;
  to?: string;
  format?: string;
  auditFile?: string;
  adminUrl?: string;
  tokenFile?: string;
  localTokenDir?: string;
  caFile?: string;
  out?: string;
}

function readSmall(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TollgateError("config_error", `${what} ${file}: ${TollgateError.from(err).message}`, { cause: err });
  }
}

/**
 * Builds the report: from a running tollgate (--admin-url, by default the local one), from the
 * audit file alone (--audit-file without --admin-url), or both (local audit file verified here).
 */
export async function runReport(flags: ReportFlags, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const format = parseFormat(flags.format);
  const window = reportWindow({ from: flags.from, to: flags.to });
  let inputs: ReportInputs;
  if (flags.adminUrl || !flags.auditFile) {
    const adminUrl = flags.adminUrl ?? defaultAdminUrl(env);
    const token = adminToken({ adminUrl, tokenFile: flags.tokenFile, localTokenDir: flags.localTokenDir ?? defaultLocalTokenDir(env) }, env);
    const remote = await fetchRemoteReport({ adminUrl, window, token, ca: flags.caFile ? readSmall(flags.caFile, "CA file") : undefined });
    inputs = {
      generatedAt: remote.generatedAt, window: remote.window, audit: remote.audit,
      ...(remote.decisions ? { decisions: remote.decisions } : {}), ...(remote.rateLimits ? { rateLimits: remote.rateLimits } : {}), ...(remote.config ? { config: remote.config } : {}),
    };
    if (flags.auditFile) inputs.audit = auditEvidence(flags.auditFile, window);
  } else {
    inputs = offlineReportInputs({ auditFile: flags.auditFile, window });
  }
  return renderReport(buildReport(inputs), format);
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("compliance report: audit trail (chain verified), decision totals, rate-limit events and security settings, mapped to controls")
    .option("--from <time>", "period start: YYYY-MM-DD or ISO 8601 time (default: 30 days before --to)")
    .option("--to <time>", "period end: YYYY-MM-DD (whole day) or ISO 8601 time (default: now)")
    .option("--format <format>", "html | json | csv", "html")
    .option("--audit-file <file>", "audit trail to verify and report (with --admin-url it replaces the server's own)")
    .option("--admin-url <url>", "a running tollgate's admin server (default: the local one, at TOLLGATE_HTTP_ADDR or http://127.0.0.1:8181, unless only --audit-file is given)")
    .option("--token-file <file>", "file holding the admin bearer token (else TOLLGATE_ADMIN_TOKEN, else a loopback server's generated token)")
    .option("--local-token-dir <dir>", "where a loopback tollgate writes its generated admin token (default: TOLLGATE_ADMIN_LOCAL_TOKEN_DIR or ~/.tollgate)")
    .option("--ca-file <file>", "CA bundle for an HTTPS admin server")
    .option("--out <file>", "write the report here instead of stdout")
    .action(async (flags: ReportFlags) => {
      const text = await runReport(flags);
      if (flags.out) writeFileSync(flags.out, text);
      else process.stdout.write(text);
    });
}
