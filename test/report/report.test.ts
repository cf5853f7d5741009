import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Command } from "commander";
import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminServer } from "../../src/admin/server.js";
import { AuditTrail, type AuditEntry } from "../../src/audit/index.js";
import { registerReport, runReport } from "../../src/cli/report.js";
import { buildReport } from "../../src/report/build.js";
import { collectReportInputs, TENANT_METRIC } from "../../src/report/collect.js";
import { findSentinels, sentinelRequest, type MaskingEvidence, type MaskingSelfTest } from "../../src/observability/mask-self-test.js";
import { csvCell } from "../../src/report/render-csv.js";
import type { ComplianceReport, ReportInputs } from "../../src/report/types.js";
import { call } from "../admin/http-client.js";
import { drive, startTrafficApp, type Mix } from "../admin/traffic.js";

const TOKEN = "report-admin-token-0123456789";
const WINDOW = "from=2025-03-01&to=2025-03-31";

/** A known trail: five changes in March 2025 and one in April, written by the real AuditTrail. */
const ENTRIES: [string, AuditEntry][] = [
  ["2025-03-01T10:00:00.000Z", { action: "activation", source: "dir:policies", revision: "rev-a", tests: { ran: true, passed: 12, failed: 0 } }],
  ["2025-03-02T10:00:00.000Z", { action: "rejection", source: "dir:policies", reason: "opa test: 1 of 13 failed", tests: { ran: true, passed: 12, failed: 1 } }],
  ["2025-03-03T10:00:00.000Z", { action: "activation", source: "bundle:https://bundles.example/authz.tar.gz", revision: "rev-b", previousRevision: "rev-a", keyId: "k1", tests: { ran: true, passed: 13, failed: 0 } }],
  ["2025-03-04T10:00:00.000Z", { action: "rollback", source: "admin", revision: "rev-a", previousRevision: "rev-b", operator: "alice" }],
  ["2025-03-05T10:00:00.000Z", { action: "promotion", source: "dir:candidate", revision: "rev-c", previousRevision: "rev-a", operator: "bob <bob@example.com>" }],
  ["2025-04-10T10:00:00.000Z", { action: "activation", source: "dir:policies", revision: "rev-d", previousRevision: "rev-c", tests: { ran: false } }],
];

function writeTrail(file: string): string {
  let now = new Date(0);
  const trail = AuditTrail.open(file, { fsync: false, now: () => now });
  for (const [at, entry] of ENTRIES) {
    now = new Date(at);
    trail.append(entry);
  }
  return trail.head().hash;
}

/** Minimal RFC 4180 reader for checking the CSV output. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(cell), (cell = "");
    else if (c === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += c;
  }
  return rows;
}

const statusOf = (r: ComplianceReport) => Object.fromEntries(r.items.map((i) => [i.id, i.status]));

describe("compliance report from a known audit trail and known traffic", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "tollgate-report-"));
  const auditFile = path.join(dir, "audit.jsonl");
  const tampered = path.join(dir, "audit-tampered.jsonl");
  let head: string;
  let t: Awaited<ReturnType<typeof startTrafficApp>>;
  let admin: AdminServer;
  let report: ComplianceReport;
  const mix: Mix = { ok: 6, nokey: 4, forbidden: 1, limited: 4, rls: 5 };

  beforeAll(async () => {
    head = writeTrail(auditFile);
    const lines = readFileSync(auditFile, "utf8").split("\n");
    lines[2] = lines[2]!.replace('"revision":"rev-b"', '"revision":"rev-x"');
    writeFileSync(tampered, lines.join("\n"));
    t = await startTrafficApp();
    admin = await AdminServer.start({ addr: "127.0.0.1:0", token: TOKEN, context: t.app.adminContext, registry: t.app.metrics.registry, logger: t.app.logger, auditFile });
    await drive(t, mix);
    const r = await call(`${admin.url}/v1/report?${WINDOW}&format=json`, { token: TOKEN });
    expect(r.status).toBe(200);
    report = r.json<ComplianceReport>();
  });
  afterAll(async () => {
    await admin.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("period: whole days in UTC, 'to' inclusive", () => {
    expect(report.window).toEqual({ from: "2025-03-01T00:00:00.000Z", to: "2025-03-31T23:59:59.999Z" });
  });

  it("change history: chain verified over all 6 records, the 5 of March listed exactly", () => {
    expect(report.audit).toMatchObject({ file: auditFile, chain: "verified", recordCount: 6, head });
    expect(report.audit.records.map((r) => [r.seq, r.ts, r.action, r.revision, r.previousRevision, r.keyId, r.operator, r.reason, r.verified])).toEqual([
      [1, "2025-03-01T10:00:00.000Z", "activation", "rev-a", null, null, null, null, true],
      [2, "2025-03-02T10:00:00.000Z", "rejection", null, null, null, null, "opa test: 1 of 13 failed", true],
      [3, "2025-03-03T10:00:00.000Z", "activation", "rev-b", "rev-a", "k1", null, null, true],
      [4, "2025-03-04T10:00:00.000Z", "rollback", "rev-a", "rev-b", null, "alice", null, true],
      [5, "2025-03-05T10:00:00.000Z", "promotion", "rev-c", "rev-a", null, "bob <bob@example.com>", null, true],
    ]);
    expect(report.audit.records[1]!.tests).toEqual({ ran: true, passed: 12, failed: 1 });
  });

  it("decision totals by result and reason match the traffic exactly", () => {
    expect(report.decisions?.totals).toEqual({ allowed: 8, denied: 7, errors: 0, byReason: { missing_key: 4, forbidden_path: 1, rate_limited: 2 } });
    expect(report.decisions?.byTenant).toBeUndefined();
  });

  it("rate-limit events match the traffic exactly", () => {
    expect(report.rateLimits).toEqual({ calls: { OK: 2, OVER_LIMIT: 3 }, overLimitByDomain: { api: 3, policy: 2 }, failureModeUsed: {}, storeErrors: 0 });
  });

  it("security configuration as the running process reports it", () => {
    expect(report.config).toEqual({
      grpcTls: { enabled: false, clientCertRequired: false }, adminTls: false, adminTokenRequired: true, adminAddr: "127.0.0.1:0", adminLoopbackOnly: true,
      masking: {
        settings: { logDecisionInput: false, logDecisionBody: false, decisionLogUpload: false, policyMaskRules: false, guardPatterns: 0, revision: t.app.policy.current()!.revision },
        selfTest: {
          passed: true, ranAt: expect.any(String), kinds: expect.arrayContaining(["aws_access_key", "private_key"]), fields: expect.arrayContaining(["prompt", "query", "header_map"]),
          sentinelCount: 47, outputs: ["console decision line", "audit trail record", "admin API and report"], withheld: [], leaks: [],
        },
      },
      bundleSignatureVerification: false, dryRun: false, failModes: { decisionError: "error", limitStoreDefault: "allow" },
      limitStore: { kind: "memory", state: "ready" }, activeRevision: t.app.policy.current()!.revision,
    });
    const lm1 = report.items.find((i) => i.id === "LM-1")!;
    expect(lm1.source).toBe("self-test");
    expect(lm1.evidence).toContain("47 fresh sentinels");
    expect(lm1.evidence).toContain("Settings read from the running process: --log-decision-input off, --log-decision-body off, decision-log upload off");
  });

  it("every item is mapped to a control with the status its evidence supports", () => {
    expect(statusOf(report)).toEqual({
      "LP-1": "pass", "LP-2": "pass", "LP-3": "pass",
      "CM-1": "pass", "CM-2": "info", "CM-3": "pass", "CM-4": "warn",
      "LM-1": "pass", "LM-2": "info", "LM-3": "unknown",
      "ET-1": "fail", "ET-2": "warn", "ET-3": "info",
      "AP-1": "info", "AP-2": "info", "AP-3": "pass",
    });
    expect(report.controls.map((c) => [c.id, c.status, c.items])).toEqual([
      ["least_privilege", "pass", ["LP-1", "LP-2", "LP-3"]],
      ["change_management", "warn", ["CM-1", "CM-2", "CM-3", "CM-4"]],
      ["logging_monitoring", "unknown", ["LM-1", "LM-2", "LM-3"]],
      ["encryption_in_transit", "fail", ["ET-1", "ET-2", "ET-3"]],
      ["abuse_prevention", "pass", ["AP-1", "AP-2", "AP-3"]],
    ]);
    const ev = Object.fromEntries(report.items.map((i) => [i.id, i.evidence]));
    expect(ev["CM-2"]).toBe("5 recorded changes between 2025-03-01T00:00:00.000Z and 2025-03-31T23:59:59.999Z (activation: 2, promotion: 1, rejection: 1, rollback: 1).");
    expect(ev["CM-3"]).toBe("2 of 2 activations ran policy tests with no failure.");
    expect(ev["LP-1"]).toBe("Operator named on 2 of 2 rollback/promotions.");
    expect(ev["LM-2"]).toMatch(/: 8 allowed, 7 denied, 0 errors\. Denials and errors by reason: missing_key: 4, rate_limited: 2, forbidden_path: 1\.$/);
    expect(ev["AP-2"]).toBe("ShouldRateLimit calls: OVER_LIMIT: 3, OK: 2. Over limit by domain: api: 3, policy: 2.");
    expect(ev["ET-1"]).toBe("The gRPC port is plaintext: decisions and request data cross the network unencrypted.");
  });

  it("states plainly what it cannot prove", () => {
    const text = report.limitations.join("\n");
    expect(text).toContain("cannot prove that every request went through tollgate");
    expect(text).toContain("not individually authenticated");
    expect(text).toContain("cannot show that records were cut from the end");
    expect(text).toMatch(/counters of this one process since .*not limited to the report period, reset on restart/);
  });

  it("HTML: printable, self-contained, every section present, text escaped", async () => {
    const r = await call(`${admin.url}/v1/report?${WINDOW}&format=html`, { token: TOKEN });
    expect(r.headers["content-security-policy"]).toBe("default-src 'none'; style-src 'unsafe-inline'");
    for (const id of ["summary", "controls", "changes", "decisions", "rate-limits", "configuration", "limitations"]) expect(r.body).toContain(`<section id="${id}">`);
    expect(r.body).toContain("@media print");
    expect(r.body).not.toMatch(/<script|src=|href=/i);
    expect(r.body).toContain("bob &lt;bob@example.com&gt;");
    expect(r.body).not.toContain("bob <bob@");
    expect(r.body).not.toContain('id="tamper-alert"');
    expect(r.body).toContain("What this report cannot prove");
  });

  it("CSV: one flat table; every item, change, total and setting is a row", async () => {
    const rows = parseCsv((await call(`${admin.url}/v1/report?${WINDOW}&format=csv`, { token: TOKEN })).body);
    expect(rows[0]).toEqual(["section", "control", "id", "name", "value", "status", "detail"]);
    expect(rows.every((r) => r.length === 7)).toBe(true);
    const section = (s: string) => rows.filter((r) => r[0] === s);
    expect(section("item")).toHaveLength(16);
    expect(section("control").map((r) => r[1])).toEqual(["least_privilege", "change_management", "logging_monitoring", "encryption_in_transit", "abuse_prevention"]);
    expect(section("policy_change").map((r) => [r[2], r[3], r[4], r[5]])).toEqual([
      ["1", "activation", "rev-a", "verified"], ["2", "rejection", "", "verified"], ["3", "activation", "rev-b", "verified"], ["4", "rollback", "rev-a", "verified"], ["5", "promotion", "rev-c", "verified"],
    ]);
    expect(section("decisions").map((r) => [r[3], r[4]])).toEqual([["allowed", "8"], ["denied", "7"], ["errors", "0"]]);
    expect(section("over_limit").map((r) => [r[3], r[4]])).toEqual([["api", "3"], ["policy", "2"]]);
    expect(section("config").find((r) => r[3] === "grpc_tls")).toEqual(["config", "encryption_in_transit", "", "grpc_tls", "false", "", ""]);
    expect(section("limitation").length).toBe(5);
  });

  it("a tampered trail (one byte of record 3 edited) is flagged: chain, item, control, records and every format", async () => {
    const out = JSON.parse(await runReport({ adminUrl: admin.url, auditFile: tampered, from: "2025-03-01", to: "2025-03-31", format: "json" }, { TOLLGATE_ADMIN_TOKEN: TOKEN })) as ComplianceReport;
    expect(out.audit).toMatchObject({ chain: "tampered", brokenAt: { line: 3, reason: "hash does not match the line's content (it was edited)" } });
    expect(out.audit.records.map((r) => [r.seq, r.revision, r.verified])).toEqual([[1, "rev-a", true], [2, null, true], [3, "rev-x", false], [4, "rev-a", false], [5, "rev-c", false]]);
    expect(statusOf(out)["CM-1"]).toBe("fail");
    expect(out.controls.find((c) => c.id === "change_management")!.status).toBe("fail");
    expect(out.limitations).toContain("The audit trail failed verification, so the change history in this report is not evidence.");
    // The metrics and settings still come from the server.
    expect(out.decisions?.totals.allowed).toBe(8);
    const html = await runReport({ adminUrl: admin.url, auditFile: tampered, from: "2025-03-01", to: "2025-03-31", format: "html" }, { TOLLGATE_ADMIN_TOKEN: TOKEN });
    expect(html).toContain('id="tamper-alert"');
    expect(html).toContain("FAILED verification at line 3");
    const csv = parseCsv(await runReport({ auditFile: tampered, from: "2025-03-01", to: "2025-03-31", format: "csv" }));
    expect(csv.find((r) => r[0] === "audit")).toEqual(["audit", "change_management", "", "chain", "tampered", "fail", "line 3: hash does not match the line's content (it was edited)"]);
  });

  it("a removed middle record breaks the chain at the line that follows it", async () => {
    const cut = path.join(dir, "audit-cut.jsonl");
    const lines = readFileSync(auditFile, "utf8").split("\n");
    lines.splice(1, 1);
    writeFileSync(cut, lines.join("\n"));
    const out = JSON.parse(await runReport({ auditFile: cut, from: "2025-03-01", to: "2025-03-31", format: "json" })) as ComplianceReport;
    expect(out.audit.brokenAt).toEqual({ line: 2, reason: "seq is 3 where 2 was expected (a line was removed, inserted or moved)" });
  });
});

describe("tollgate report (CLI) without a server", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "tollgate-report-cli-"));
  const auditFile = path.join(dir, "audit.jsonl");
  beforeAll(() => void writeTrail(auditFile));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("from the audit file alone: history verified, metrics and settings marked as not available", async () => {
    const out = JSON.parse(await runReport({ auditFile, from: "2025-04-01", to: "2025-04-30", format: "json" })) as ComplianceReport;
    expect(out.audit).toMatchObject({ chain: "verified", recordCount: 6 });
    expect(out.audit.records.map((r) => r.revision)).toEqual(["rev-d"]);
    expect(out.decisions).toBeUndefined();
    expect(statusOf(out)).toEqual({ "CM-1": "pass", "CM-2": "info", "CM-3": "warn", "LP-1": "info", "CFG-0": "unknown", "LM-0": "unknown" });
    expect(out.limitations).toContain("No decision or rate-limit totals: the report was built from the audit file alone.");
  });

  it("an audit file that does not exist gives 'missing', not a crash", async () => {
    const out = JSON.parse(await runReport({ auditFile: path.join(dir, "nope.jsonl"), format: "json" })) as ComplianceReport;
    expect(out.audit.chain).toBe("missing");
    expect(statusOf(out)["CM-1"]).toBe("unknown");
  });

  it("registered on a commander program: writes the chosen format to --out", async () => {
    const program = new Command("tollgate").exitOverride();
    registerReport(program);
    const file = path.join(dir, "r.html");
    await program.parseAsync(["node", "tollgate", "report", "--audit-file", auditFile, "--from", "2025-03-01", "--to", "2025-03-31", "--out", file]);
    const html = readFileSync(file, "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("tollgate compliance report");
  });

  it.each([
    [{ auditFile: "x", format: "pdf" }, /invalid format "pdf"/],
    [{ auditFile: "x", from: "2025-13-01" }, /invalid from "2025-13-01"/],
    [{ auditFile: "x", to: "31/03/2025" }, /invalid to "31\/03\/2025"/],
    [{ auditFile: "x", from: "2025-03-02T00:00:00Z", to: "2025-03-01" }, /is after to/],
    [{ adminUrl: "ftp://host" }, /must be http:\/\/ or https:\/\//],
    [{ adminUrl: "http://127.0.0.1:1" }, /cannot reach http:\/\/127\.0\.0\.1:1/],
  ])("bad input %o – a clear config_error", async (flags, message) => {
    await expect(runReport(flags, {})).rejects.toMatchObject({ code: "config_error", message: expect.stringMatching(message) });
  });

  it("no --admin-url and no --audit-file – asks the local server, at TOLLGATE_HTTP_ADDR", async () => {
    await expect(runReport({}, { TOLLGATE_HTTP_ADDR: "127.0.0.1:1" })).rejects.toMatchObject({ code: "config_error", message: expect.stringMatching(/cannot reach http:\/\/127\.0\.0\.1:1/) });
  });
});

describe("tollgate report against a server that wants a token", () => {
  let admin: AdminServer;
  let t: Awaited<ReturnType<typeof startTrafficApp>>;
  const dir = mkdtempSync(path.join(tmpdir(), "tollgate-report-tok-"));
  beforeAll(async () => {
    t = await startTrafficApp();
    admin = await AdminServer.start({ addr: "127.0.0.1:0", token: TOKEN, context: t.app.adminContext, registry: t.app.metrics.registry, logger: t.app.logger });
  });
  afterAll(async () => {
    await admin.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("without the token: the server's 401 reason; with --token-file: the report", async () => {
    await expect(runReport({ adminUrl: admin.url, format: "json" }, {})).rejects.toMatchObject({ code: "config_error", message: `${admin.url} answered 401: a valid bearer token is required` });
    const tokenFile = path.join(dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const out = JSON.parse(await runReport({ adminUrl: admin.url, tokenFile, format: "json" }, {})) as ComplianceReport;
    expect(out.audit.chain).toBe("missing");
    expect(out.config?.adminTokenRequired).toBe(true);
  });
});

/** A self-test over an output that copies the request as it is: it must find every sentinel. */
function echoSelfTest(): MaskingSelfTest {
  const { request, sentinels } = sentinelRequest();
  return findSentinels(sentinels, { "an unmasked copy": () => JSON.stringify(request, (_k, v: unknown) => ((v as { type?: unknown })?.type === "Buffer" ? Buffer.from((v as { data: number[] }).data).toString("base64") : v)) });
}
const maskingSettings = { logDecisionInput: true, logDecisionBody: false, decisionLogUpload: true, policyMaskRules: true, guardPatterns: 8 };
const passingMasking: MaskingEvidence = { settings: maskingSettings, selfTest: findSentinels(sentinelRequest().sentinels, { "an empty output": () => "{}" }) };
const leakingMasking: MaskingEvidence = { settings: maskingSettings, selfTest: echoSelfTest() };

describe("the masking self-test can fail", () => {
  it("an output that copies the request unmasked leaks every sentinel, and LM-1 fails naming them", () => {
    const t = echoSelfTest();
    expect(t.passed).toBe(false);
    expect(t.leaks).toHaveLength(t.sentinelCount);
    expect(t.leaks.map((l) => l.sentinel)).toContain("private_key in prompt");
    expect(t.leaks.map((l) => l.sentinel)).toContain("header_map raw x-api-key");
    const lm1 = buildReport({ generatedAt: "2025-06-01T00:00:00.000Z", window: { from: "2025-05-01T00:00:00.000Z", to: "2025-05-31T23:59:59.999Z" }, audit: { chain: "empty", recordCount: 0, records: [] },
      config: { grpcTls: { enabled: true, clientCertRequired: true }, adminTls: true, adminTokenRequired: true, adminAddr: "0.0.0.0:8181", adminLoopbackOnly: false, masking: leakingMasking, bundleSignatureVerification: true, dryRun: false, failModes: { decisionError: "deny", limitStoreDefault: "allow" }, limitStore: { kind: "redis", state: "ready" } },
    }).items.find((i) => i.id === "LM-1")!;
    expect(lm1.status).toBe("fail");
    expect(lm1.evidence).toContain(`${t.sentinelCount} sentinels found (aws_access_key in prompt in an unmasked copy`);
  });

  it("an output that fails is a leak, not a pass", () => {
    const t = findSentinels(sentinelRequest().sentinels, { broken: () => { throw new Error("boom"); } });
    expect(t.passed).toBe(false);
  });
});

describe("report rules on their own", () => {
  const base = (over: Partial<ReportInputs> = {}): ReportInputs => ({
    generatedAt: "2025-06-01T00:00:00.000Z",
    window: { from: "2025-05-01T00:00:00.000Z", to: "2025-05-31T23:59:59.999Z" },
    audit: { chain: "empty", recordCount: 0, records: [] },
    config: {
      grpcTls: { enabled: true, clientCertRequired: true, subject: "CN=tollgate", notAfter: "2026-06-01T00:00:00.000Z" }, adminTls: true, adminTokenRequired: true,
      adminAddr: "0.0.0.0:8181", adminLoopbackOnly: false, masking: passingMasking, bundleSignatureVerification: true, dryRun: false,
      failModes: { decisionError: "deny", limitStoreDefault: "allow" }, limitStore: { kind: "redis", state: "ready" },
    },
    ...over,
  });

  it.each([
    ["mTLS, HTTPS admin, signatures on", {}, { "ET-1": "pass", "ET-2": "pass", "ET-3": "pass", "CM-4": "pass", "LP-3": "pass", "CM-1": "warn" }],
    ["a certificate expiring within 14 days", { grpcTls: { enabled: true, clientCertRequired: true, notAfter: "2025-06-10T00:00:00.000Z" } }, { "ET-1": "warn" }],
    ["plain HTTP admin on a network address", { adminTls: false }, { "ET-3": "fail" }],
    ["dry run on", { dryRun: true }, { "LP-3": "fail" }],
    ["the masking self-test found a sentinel", { masking: leakingMasking }, { "LM-1": "fail" }],
  ])("%s", (_t, over, expected) => {
    const inputs = base();
    const report = buildReport({ ...inputs, config: { ...inputs.config!, ...over } });
    expect(statusOf(report)).toMatchObject(expected);
  });

  it("limit store outages: fail-open decisions are a warning with their count", () => {
    const report = buildReport(base({ decisions: { since: "x", totals: { allowed: 1, denied: 0, errors: 0, byReason: {} } }, rateLimits: { calls: {}, overLimitByDomain: {}, failureModeUsed: { allow: 4, deny: 1 }, storeErrors: 5 } }));
    const item = report.items.find((i) => i.id === "AP-3")!;
    expect([item.status, item.evidence]).toEqual(["warn", "5 store errors; decisions taken by a failure mode: allow: 4, deny: 1 (4 let through unlimited)."]);
  });

  it("decisions by tenant come from the tenant metric when the app registers it", async () => {
    const registry = new Registry();
    const c = new Counter({ name: TENANT_METRIC, help: "t", labelNames: ["tenant", "result"], registers: [registry] });
    c.inc({ tenant: "acme", result: "allow" }, 5);
    c.inc({ tenant: "acme", result: "deny" }, 2);
    c.inc({ tenant: "globex", result: "allow" }, 1);
    const inputs = await collectReportInputs({
      registry, auditFile: undefined, window: base().window, admin: { addr: "127.0.0.1:8181", tls: false, tokenRequired: false },
      status: {
        ready: true, startedAt: "2025-05-20T00:00:00.000Z", policy: { revisions: [] }, sources: [], limitStore: { kind: "memory", state: "ready" },
        failModes: { decisionError: "error", limitStoreDefault: "allow" }, security: { grpcTls: { enabled: false, clientCertRequired: false }, masking: passingMasking, bundleSignatureVerification: false, dryRun: false },
      },
    });
    expect(inputs.decisions?.byTenant).toEqual({ acme: { allow: 5, deny: 2 }, globex: { allow: 1 } });
    const item = buildReport(inputs).items.find((i) => i.id === "LM-3")!;
    expect([item.status, item.evidence]).toEqual(["info", "acme (allow: 5, deny: 2); globex (allow: 1)"]);
    expect(inputs.config?.adminLoopbackOnly).toBe(true);
  });

  it.each([
    ["=HYPERLINK(1)", "'=HYPERLINK(1)"],
    ["+1", "'+1"],
    ["@SUM", "'@SUM"],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["line\nbreak", '"line\nbreak"'],
    [42, "42"],
    [null, ""],
  ])("csvCell(%j) = %j (RFC 4180, no formula injection)", (input, out) => {
    expect(csvCell(input)).toBe(out);
  });
});

describe("policy history from the audit trail", () => {
  it("maps actions to events, newest first, dropping nulls, capped by limit", async () => {
    const { historyFromAudit } = await import("../../src/admin/history.js");
    const dir = mkdtempSync(path.join(tmpdir(), "tollgate-history-"));
    try {
      const file = path.join(dir, "a.jsonl");
      writeTrail(file);
      const records = AuditTrail.open(file).read();
      expect(historyFromAudit(records, 3)).toEqual([
        { at: "2025-04-10T10:00:00.000Z", event: "activated", source: "dir:policies", revision: "rev-d", previousRevision: "rev-c" },
        { at: "2025-03-05T10:00:00.000Z", event: "promoted", source: "dir:candidate", revision: "rev-c", previousRevision: "rev-a", operator: "bob <bob@example.com>" },
        { at: "2025-03-04T10:00:00.000Z", event: "rolled_back", source: "admin", revision: "rev-a", previousRevision: "rev-b", operator: "alice" },
      ]);
      expect(historyFromAudit(records).map((h) => h.event)).toEqual(["activated", "promoted", "rolled_back", "activated", "rejected", "activated"]);
      expect(historyFromAudit(records)[4]).toEqual({ at: "2025-03-02T10:00:00.000Z", event: "rejected", source: "dir:policies", reason: "opa test: 1 of 13 failed" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
