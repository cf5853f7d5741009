import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyAuditFile, AuditTrail } from "../../src/audit/index.js";
import { checkRequest, startTestApp, writePolicyDir, type TestApp } from "../support/app.js";
import { waitFor } from "../support/wait.js";

const versioned = (v: string) => `package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-version": "${v}"}}\n`;

describe("activation, rollback and audit", () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("rollback returns to the previous revision in one step, and every change is one audit line on a valid chain", async () => {
    const audit = path.join(mkdtempSync(path.join(os.tmpdir(), "tg-audit-")), "audit.jsonl");
    const dir = writePolicyDir({ "p.rego": versioned("one") });
    t = await startTestApp(dir, { watch: true, auditFile: audit });
    const app = t;
    const first = app.app.policy.current()!.revision;
    writeFileSync(path.join(dir, "p.rego"), versioned("two"));
    await waitFor(() => app.app.policy.current()!.revision !== first, 15_000);
    writeFileSync(path.join(dir, "p.rego"), "package envoy.authz\n\nallow := {\n");
    await waitFor(() => app.logs.events("policy_rejected").length === 1, 15_000);

    const back = app.app.policy.rollback(undefined, "alice@example.com");
    expect(back.revision).toBe(first);
    const res = await app.check(checkRequest({}));
    expect(res.okResponse?.headers[0]?.header).toMatchObject({ key: "x-version", value: "one" });

    const records = AuditTrail.open(audit).read();
    expect(records.map((r) => r.action)).toEqual(["activation", "activation", "rejection", "rollback"]);
    expect(records[2]!.reason).toMatch(/rego_parse_error/);
    expect(records[3]).toMatchObject({ revision: first, operator: "alice@example.com" });
    expect(verifyAuditFile(audit)).toMatchObject({ ok: true, count: 4 });
    expect(() => app.app.policy.rollback("not-a-revision")).toThrow(/not among the 2 kept revisions/);
  });
});

describe("shadow evaluation of a candidate policy", () => {
  it("counts disagreements exactly on a known traffic mix, never changes an answer, and promotes", async () => {
    const active = 'package envoy.authz\n\ndefault allow := false\n\nallow if input.parsed_path[0] in {"a", "c"}\n';
    const candidate = 'package envoy.authz\n\ndefault allow := false\n\nallow if input.parsed_path[0] in {"b", "c"}\n';
    const candidateDir = writePolicyDir({ "p.rego": candidate });
    const t = await startTestApp({ "p.rego": active }, { candidatePolicies: candidateDir });
    try {
      const mix = { a: 7, b: 5, c: 11, d: 3 };
      const codes: Record<string, number[]> = {};
      for (const [p, n] of Object.entries(mix)) {
        for (let i = 0; i < n; i++) (codes[p] ??= []).push((await t.check(checkRequest({ path: `/${p}` }))).status!.code);
      }
      // Answers come from the active policy only.
      expect(codes).toEqual({ a: Array(7).fill(0), b: Array(5).fill(7), c: Array(11).fill(0), d: Array(3).fill(7) });
      const stats = t.app.shadowStats.snapshot();
      expect(stats).toMatchObject({ compared: 26, agreed: 14, disagreed: 12, errors: 0 });
      expect(stats.kinds.allow_to_deny).toBe(7);
      expect(stats.kinds.deny_to_allow).toBe(5);
      const scraped = await t.app.metrics.registry.getSingleMetricAsString("tollgate_shadow_disagreements_total");
      expect(scraped).toContain('tollgate_shadow_disagreements_total{kind="allow_to_deny"} 7');
      expect(t.logs.events("shadow_diff")).toHaveLength(12);

      const promoted = t.app.policy.promote("bob");
      expect(t.app.policy.current()!.revision).toBe(promoted.revision);
      expect((await t.check(checkRequest({ path: "/b" }))).status?.code).toBe(0);
      expect(t.app.policy.candidate()).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
