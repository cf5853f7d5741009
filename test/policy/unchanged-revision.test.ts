import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { LocalPolicySource } from "../../src/policy/local-source.js";
import { startTestApp, type TestApp } from "../support/app.js";

// Each load() is a real opa build of the folder, exactly what a watched save triggers.
const policy = (n: number) => `package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-n": "${n}"}}\n`;

const load = (t: TestApp) => (t.app.policySource as LocalPolicySource).load();

describe("unchanged revisions", () => {
  let t: TestApp;
  afterEach(() => t.close());

  it("an unchanged save (touch) activates nothing: one revision, one event, one audit record; rollback fails clearly", async () => {
    const audit = path.join(mkdtempSync(path.join(os.tmpdir(), "tollgate-audit-")), "audit.jsonl");
    t = await startTestApp({ "p.rego": policy(1) }, { auditFile: audit });
    const first = t.app.policy.activeRevision()!.revision;
    const later = new Date(Date.now() + 5_000);
    for (let i = 0; i < 3; i++) {
      utimesSync(path.join(t.dir, "p.rego"), later, later);
      expect((await load(t)).revision).toBe(first);
    }
    expect(t.app.policy.revisions().map((r) => r.revision)).toEqual([first]);
    expect(t.app.policy.events().map((e) => e.action)).toEqual(["activation"]);
    expect(readFileSync(audit, "utf8").trim().split("\n")).toHaveLength(1);
    expect(() => t.app.policy.rollback()).toThrow("no earlier revision to roll back to");
    expect(() => t.app.policy.rollback(first)).toThrow(`revision ${first} is already active`);
  }, 60_000);

  it("an undone edit (1 → 2 → 1) keeps two distinct revisions, and rollback goes to the other one", async () => {
    t = await startTestApp({ "p.rego": policy(1) });
    const one = t.app.policy.activeRevision()!.revision;
    writeFileSync(path.join(t.dir, "p.rego"), policy(2));
    const two = (await load(t)).revision;
    writeFileSync(path.join(t.dir, "p.rego"), policy(1));
    expect((await load(t)).revision).toBe(one);
    expect(t.app.policy.revisions().map((r) => r.revision)).toEqual([one, two]);
    expect(t.app.policy.rollback()).toMatchObject({ revision: two });
    expect(t.app.policy.activeRevision()?.revision).toBe(two);
  }, 60_000);
});
