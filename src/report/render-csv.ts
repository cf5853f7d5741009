import type { ComplianceReport } from "./types.js";

const sorted = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

const HEADER = ["section", "control", "id", "name", "value", "status", "detail"] as const;

/** Quotes per RFC 4180; a cell a spreadsheet would run as a formula gets a leading apostrophe. */
export function csvCell(value: unknown): string {
  let s = value === undefined || value === null ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One flat table: every item, record, total and setting is a row tagged with its section. */
export function renderCsv(r: ComplianceReport): string {
  const rows: unknown[][] = [];
  const add = (section: string, control: string, id: unknown, name: unknown, value: unknown, status: unknown, detail: unknown) => rows.push([section, control, id, name, value, status, detail]);
  add("report", "", "", "period", `${r.window.from}/${r.window.to}`, "", `generated ${r.generatedAt}`);
  for (const c of r.controls) add("control", c.id, "", c.title, c.items.join(" "), c.status, c.summary);
  for (const i of r.items) add("item", i.control, i.id, i.title, "", i.status, i.evidence);
  add("audit", "change_management", "", "chain", r.audit.chain, r.audit.chain === "tampered" ? "fail" : "", r.audit.brokenAt ? `line ${r.audit.brokenAt.line}: ${r.audit.brokenAt.reason}` : (r.audit.head ?? ""));
  for (const x of r.audit.records) {
    add("policy_change", "change_management", x.seq, x.action, x.revision ?? "", x.verified ? "verified" : "unverified",
      `at ${x.ts}; previous ${x.previousRevision ?? "-"}; source ${x.source}; key ${x.keyId ?? "-"}; operator ${x.operator ?? "-"}; tests ${x.tests ? (x.tests.ran ? (x.tests.passed !== undefined ? `${x.tests.passed} passed ${x.tests.failed ?? 0} failed` : "ran") : "not run") : "-"}${x.reason ? `; reason ${x.reason}` : ""}`);
  }
  if (r.decisions) {
    const t = r.decisions.totals;
    add("decisions", "logging_monitoring", "", "allowed", t.allowed, "", `since ${r.decisions.since}`);
    add("decisions", "logging_monitoring", "", "denied", t.denied, "", `since ${r.decisions.since}`);
    add("decisions", "logging_monitoring", "", "errors", t.errors, "", `since ${r.decisions.since}`);
    for (const [reason, n] of sorted(t.byReason)) add("decision_reason", "logging_monitoring", "", reason, n, "", "");
    for (const [tenant, res] of Object.entries(r.decisions.byTenant ?? {}).sort(([a], [b]) => a.localeCompare(b))) for (const [k, n] of sorted(res)) add("decision_tenant", "logging_monitoring", tenant, k, n, "", "");
  }
  if (r.rateLimits) {
    for (const [k, n] of sorted(r.rateLimits.calls)) add("rate_limit_calls", "abuse_prevention", "", k, n, "", "");
    for (const [k, n] of sorted(r.rateLimits.overLimitByDomain)) add("over_limit", "abuse_prevention", "", k, n, "", "");
    for (const [k, n] of sorted(r.rateLimits.failureModeUsed)) add("failure_mode_used", "abuse_prevention", "", k, n, "", "");
    add("limit_store_errors", "abuse_prevention", "", "errors", r.rateLimits.storeErrors, "", "");
  }
  if (r.config) {
    const c = r.config;
    const settings: [string, string, unknown][] = [
      ["encryption_in_transit", "grpc_tls", c.grpcTls.enabled], ["encryption_in_transit", "grpc_client_cert_required", c.grpcTls.clientCertRequired],
      ["encryption_in_transit", "admin_tls", c.adminTls], ["least_privilege", "admin_token_required", c.adminTokenRequired],
      ["least_privilege", "admin_addr", c.adminAddr],
      ["logging_monitoring", "masking_self_test", c.masking.selfTest.passed ? "passed" : "failed"],
      ["logging_monitoring", "masking_self_test_leaks", c.masking.selfTest.leaks.length],
      ["logging_monitoring", "log_decision_input", c.masking.settings.logDecisionInput], ["logging_monitoring", "log_decision_body", c.masking.settings.logDecisionBody],
      ["logging_monitoring", "decision_log_upload", c.masking.settings.decisionLogUpload], ["logging_monitoring", "policy_mask_rules", c.masking.settings.policyMaskRules],
      ["logging_monitoring", "guard_patterns", c.masking.settings.guardPatterns],
      ["change_management", "bundle_signature_verification", c.bundleSignatureVerification], ["least_privilege", "dry_run", c.dryRun],
      ["abuse_prevention", "on_decision_error", c.failModes.decisionError], ["abuse_prevention", "limit_store_default_failure_mode", c.failModes.limitStoreDefault],
      ["abuse_prevention", "limit_store", `${c.limitStore.kind}/${c.limitStore.state}`],
    ];
    for (const [control, name, value] of settings) add("config", control, "", name, value, "", "");
  }
  for (const [i, l] of r.limitations.entries()) add("limitation", "", i + 1, "cannot prove", "", "", l);
  return [HEADER.join(","), ...rows.map((row) => row.map(csvCell).join(","))].join("\r\n") + "\r\n";
}
