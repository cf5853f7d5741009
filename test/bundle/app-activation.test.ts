import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { AuditTrail } from "../../src/audit/index.js";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";
import { waitFor } from "../support/wait.js";
import { BundleServer } from "./support/bundle-server.js";
import { opaBuild, rsaKeys, tempDir, writeTree } from "./support/opa.js";

const policy = (v: string) => ({ "envoy/authz.rego": `package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-version": "${v}"}}\n` });

async function version(t: TestApp): Promise<string | undefined> {
  const res = await t.check(checkRequest({}));
  return res.okResponse?.headers.find((h) => h.header?.key === "x-version")?.header?.value;
}

describe("signed bundles from a bundle server, through the running app", () => {
  let t: TestApp | undefined;
  let server: BundleServer | undefined;
  afterEach(async () => {
    await t?.close();
    await server?.close();
    t = server = undefined;
  });

  it("activates new signed revisions under continuous Check load with zero failed calls; refuses a wrongly signed one", async () => {
    const keys = tempDir();
    const good = rsaKeys(keys, "good");
    const evil = rsaKeys(keys, "evil");
    const audit = `${tempDir()}/audit.jsonl`;
    server = await BundleServer.start({ longPolling: true });
    server.publish(opaBuild(writeTree(policy("v1")), { revision: "r1", signingKey: good.privateFile }), '"r1"');
    t = await startTestApp("policies", {
      bundleUrl: server.url,
      bundleVerificationKeyFile: good.publicFile,
      bundleLongPollSeconds: 2,
      bundlePollMinSeconds: 1,
      bundlePollMaxSeconds: 1,
      auditFile: audit,
    });
    const app = t;
    expect(app.app.policy.activeRevision()).toMatchObject({ revision: "r1", keyId: "default" });

    let running = true;
    const failures: unknown[] = [];
    const seen = new Set<string>();
    const load = Array.from({ length: 6 }, async () => {
      while (running) {
        try {
          seen.add((await version(app)) ?? "none");
        } catch (err) {
          failures.push(err);
        }
      }
    });
    for (const r of ["r2", "r3"]) {
      server.publish(opaBuild(writeTree(policy(r.replace("r", "v"))), { revision: r, signingKey: good.privateFile }), `"${r}"`);
      await waitFor(() => app.app.policy.activeRevision()?.revision === r, 15_000);
    }
    server.publish(opaBuild(writeTree(policy("evil")), { revision: "r4", signingKey: evil.privateFile }), '"r4"');
    await waitFor(() => AuditTrail.open(audit).read().some((r) => r.action === "rejection"), 15_000);
    running = false;
    await Promise.all(load);

    expect(failures).toEqual([]);
    for (const v of seen) expect(["v1", "v2", "v3"]).toContain(v);
    expect(seen.has("v3")).toBe(true);
    expect(await version(app)).toBe("v3");
    const records = AuditTrail.open(audit).read();
    expect(records.map((r) => [r.action, r.revision])).toEqual([["activation", "r1"], ["activation", "r2"], ["activation", "r3"], ["rejection", "r4"]]);
    expect(records[3]!.reason).toMatch(/signature/);
  });

  it("a restart while the server is down serves the persisted bundle and says so", async () => {
    const state = tempDir();
    server = await BundleServer.start();
    server.publish(opaBuild(writeTree(policy("kept")), { revision: "kept-1" }), '"k1"');
    const settings = { bundleUrl: server.url, bundleStateDir: state, bundlePollMinSeconds: 1, bundlePollMaxSeconds: 1 };
    t = await startTestApp("policies", settings);
    expect(await version(t)).toBe("kept");
    await waitFor(() => readdirSync(state, { recursive: true }).length > 0, 15_000);
    await t.close();
    await server.down();

    t = await startTestApp("policies", settings);
    expect(await version(t)).toBe("kept");
    expect(t.app.policy.activeRevision()?.source).toMatch(/^persisted-bundle:/);
    expect(t.logs.events("policy_from_disk")).toHaveLength(1);
  });
});
