import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkRequest, startTestApp, writePolicyDir, type TestApp } from "../support/app.js";
import { waitFor } from "../support/wait.js";

const policy = (value: string) => `package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-version": "${value}"}}\n`;

async function version(t: TestApp): Promise<string | undefined> {
  const res = await t.check(checkRequest({}));
  return res.okResponse?.headers.find((h) => h.header?.key === "x-version")?.header?.value;
}

describe("editing policies live", () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("good edit – rebuilds, runs the tests, swaps, and logs the new revision on decisions", async () => {
    const dir = writePolicyDir({ "p.rego": policy("one"), "p_test.rego": "package envoy.authz_test\n\nimport data.envoy.authz\n\ntest_allowed if authz.allow.allowed\n" });
    t = await startTestApp(dir, { watch: true });
    const first = t.app.policy.current()!.revision;
    expect(await version(t)).toBe("one");

    writeFileSync(path.join(dir, "p.rego"), policy("two"));
    await waitFor(() => t!.app.policy.current()!.revision !== first, 15_000);
    expect(await version(t)).toBe("two");
    const activated = t.logs.events("policy_activated").at(-1)!;
    expect(activated).toMatchObject({ previous_revision: first, tests_run: true });
    expect(t.logs.events("decision").at(-1)!["revision"]).toBe(t.app.policy.current()!.revision);
  });

  it("broken edit – the last good revision keeps serving and OPA's error names file and line", async () => {
    const dir = writePolicyDir({ "p.rego": policy("good") });
    t = await startTestApp(dir, { watch: true });
    const good = t.app.policy.current()!.revision;

    writeFileSync(path.join(dir, "p.rego"), "package envoy.authz\n\nallow := {\n");
    await waitFor(() => t!.logs.events("policy_rejected").length > 0, 15_000);
    const rejected = t.logs.events("policy_rejected")[0]!;
    expect(rejected["error"]).toMatch(/p\.rego:\d+/);
    expect(rejected["serving_revision"]).toBe(good);
    expect(t.app.policy.current()!.revision).toBe(good);
    expect(await version(t)).toBe("good");
  });

  it("failing policy test – the edit is rejected", async () => {
    const dir = writePolicyDir({ "p.rego": policy("a"), "p_test.rego": 'package envoy.authz_test\n\nimport data.envoy.authz\n\ntest_version if authz.allow.headers["x-version"] == "a"\n' });
    t = await startTestApp(dir, { watch: true });
    writeFileSync(path.join(dir, "p.rego"), policy("b"));
    await waitFor(() => t!.logs.events("policy_rejected").length > 0, 15_000);
    expect(t.logs.events("policy_rejected")[0]!["error"]).toMatch(/test_version|FAIL/);
    expect(await version(t)).toBe("a");
  });

  it("a built-in outside tollgate's capabilities – rejected at build time with OPA's message", async () => {
    const dir = writePolicyDir({ "p.rego": policy("a") });
    t = await startTestApp(dir, { watch: true });
    writeFileSync(path.join(dir, "p.rego"), 'package envoy.authz\n\nallow if http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code == 200\n');
    await waitFor(() => t!.logs.events("policy_rejected").length > 0, 15_000);
    expect(t.logs.events("policy_rejected")[0]!["error"]).toMatch(/undefined function http\.send/);
    expect(await version(t)).toBe("a");
  });

  it("edits under continuous load – zero failed calls, every answer from a whole revision", async () => {
    const dir = writePolicyDir({ "p.rego": policy("v0") });
    t = await startTestApp(dir, { watch: true });
    const app = t;
    let running = true;
    let calls = 0;
    const failures: unknown[] = [];
    const seen = new Set<string>();
    const workers = Array.from({ length: 8 }, async () => {
      while (running) {
        try {
          const v = await version(app);
          if (v === undefined) failures.push("no version header");
          else seen.add(v);
          calls++;
        } catch (err) {
          failures.push(err);
        }
      }
    });
    for (let i = 1; i <= 4; i++) {
      const before = app.app.policy.current()!.revision;
      writeFileSync(path.join(dir, "p.rego"), policy(`v${i}`));
      await waitFor(() => app.app.policy.current()!.revision !== before, 15_000);
    }
    await new Promise((r) => setTimeout(r, 100));
    running = false;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(100);
    expect(seen).toContain("v4");
    for (const v of seen) expect(v).toMatch(/^v[0-4]$/);
  });
});
