import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminServer } from "../../src/admin/server.js";
import { AuditTrail, verifyAuditFile } from "../../src/audit/index.js";
import type { ComplianceReport } from "../../src/report/types.js";
import { checkRequest, startTestApp, writePolicyDir, type TestApp } from "../support/app.js";
import { call } from "./http-client.js";

const TOKEN = "audited-admin-token-0123456789";
const V1 = 'package envoy.authz\n\nimport rego.v1\n\nallow if input.attributes.request.http.path == "/ok"\n';
const V2 = "package envoy.authz\n\nallow := false\n";

describe("a rollback through the admin API changes the serving policy and lands in the audit trail with its operator", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "tollgate-audited-"));
  const auditFile = path.join(dir, "audit.jsonl");
  const policies = writePolicyDir({ "authz.rego": V1 }, path.join(dir, "policies"));
  let t: TestApp;
  let admin: AdminServer;
  let v1: string;
  let v2: string;

  beforeAll(async () => {
    t = await startTestApp(policies, { auditFile, watch: true });
    v1 = t.app.policy.current()!.revision;
    writeFileSync(path.join(policies, "authz.rego"), V2);
    const until = Date.now() + 20_000;
    while (t.app.policy.current()!.revision === v1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    v2 = t.app.policy.current()!.revision;
    admin = await AdminServer.start({ addr: "127.0.0.1:0", token: TOKEN, context: t.app.adminContext, registry: t.app.metrics.registry, logger: t.app.logger, auditFile });
  });
  afterAll(async () => {
    await admin.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("before: v2 serves and denies /ok", async () => {
    expect(v2).not.toBe(v1);
    expect((await t.check(checkRequest({ path: "/ok" }))).status?.code).toBe(7);
  });

  it("POST /v1/policy/rollback by carol: v1 serves again, and the trail's last record says so", async () => {
    const r = await call(`${admin.url}/v1/policy/rollback`, { method: "POST", token: TOKEN, headers: { "x-tollgate-operator": "carol" }, body: JSON.stringify({ revision: v1 }) });
    expect(r.json()).toEqual({ action: "rollback", operator: "carol", revision: v1, previousRevision: v2 });
    expect((await t.check(checkRequest({ path: "/ok" }))).status?.code).toBe(0);
    const records = AuditTrail.open(auditFile).read();
    expect(records.map((x) => x.action)).toEqual(["activation", "activation", "rollback"]);
    expect(records.at(-1)).toMatchObject({ action: "rollback", revision: v1, previous_revision: v2, operator: "carol" });
    expect(verifyAuditFile(auditFile)).toMatchObject({ ok: true, count: 3 });
  });

  it("history and the compliance report show the rollback and its operator, chain verified", async () => {
    const history = (await call(`${admin.url}/v1/policy/history`, { token: TOKEN })).json<{ entries: { event: string; operator?: string }[] }>().entries;
    expect(history.map((h) => h.event)).toEqual(["rolled_back", "activated", "activated"]);
    expect(history[0]!.operator).toBe("carol");
    const report = (await call(`${admin.url}/v1/report?format=json`, { token: TOKEN })).json<ComplianceReport>();
    expect(report.audit.chain).toBe("verified");
    expect(report.audit.records.at(-1)).toMatchObject({ action: "rollback", operator: "carol", revision: v1, verified: true });
    expect(report.items.find((i) => i.id === "LP-1")).toMatchObject({ status: "pass", evidence: "Operator named on 1 of 1 rollback/promotion." });
  });

  it("rolling back to a revision that was never kept is a 400 with the registry's reason, and nothing is recorded", async () => {
    const r = await call(`${admin.url}/v1/policy/rollback`, { method: "POST", token: TOKEN, body: JSON.stringify({ revision: "feedface" }) });
    expect(r.status).toBe(400);
    expect(r.json()).toEqual({ error: { code: "config_error", message: "revision feedface is not among the 2 kept revisions" } });
    expect(AuditTrail.open(auditFile).read()).toHaveLength(3);
  });
});
