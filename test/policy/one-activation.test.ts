import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildBundle } from "../../src/policy/build-bundle.js";
import { LogServer } from "../decision-log/log-server.js";
import { checkRequest, startTestApp, writePolicyDir, type SettingsForTest } from "../support/app.js";

const POLICY = 'package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-user": "alice", "x-internal": "route-7"}}\n';
// OPA's decision-log hooks: `input` here is the decision-log event.
const LOG_RULES = `package system.log

mask contains "/input/attributes/request/http/headers/x-user-email"

mask contains {"op": "upsert", "path": "/result/headers/x-internal", "value": "[internal]"}

drop if input.input.parsed_path == ["healthz"]
`;

/** What one app sends to the decision-log service and prints on its console for three Checks. */
async function decisionsFrom(source: SettingsForTest): Promise<{ uploaded: Record<string, unknown>[]; console: Record<string, unknown>[]; activatedFrom: unknown }> {
  const server = await LogServer.start();
  const t = await startTestApp(source.policies, { ...source.settings, decisionLogUrl: server.url, logDecisionInput: true });
  try {
    for (const p of ["/a", "/healthz", "/b"]) {
      await t.check(checkRequest({ path: p, headers: { "x-user-email": "alice@example.com", "x-tenant": "acme" } }));
    }
  } finally {
    await t.close(); // flushes the decision-log sink
    await server.close();
  }
  const stable = ({ decision_id: _id, timestamp: _ts, metrics: _m, latency_ms: _l, time: _t, pid: _p, hostname: _h, ...rest }: Record<string, unknown>) => rest;
  return {
    uploaded: server.received.flatMap((r) => r.events).map(stable),
    console: t.logs.events("decision").map(stable),
    activatedFrom: t.logs.events("policy_activated")[0]?.["source"],
  };
}

describe("one activation path: a policies folder and the bundle built from it behave the same", () => {
  const dir = writePolicyDir({ "p.rego": POLICY, "system/log.rego": LOG_RULES });
  const bundleFile = path.join(mkdtempSync(path.join(os.tmpdir(), "tg-one-activation-")), "bundle.tar.gz");
  beforeAll(async () => {
    await buildBundle({ dir, output: bundleFile, decisionPath: "envoy/authz/allow" });
  });

  it("system.log.drop and system.log.mask apply alike to uploaded decision logs and console decision lines", async () => {
    const folder = await decisionsFrom({ policies: dir, settings: {} });
    const bundle = await decisionsFrom({ policies: writePolicyDir({}), settings: { bundleFile } });

    expect(folder.activatedFrom).toBe(`dir:${dir}`);
    expect(bundle.activatedFrom).toBe(`bundle:${bundleFile}`);
    // The drop rule removed /healthz, the mask rules removed one header and replaced a result header.
    expect(folder.uploaded.map((e) => (e["input"] as { parsed_path: string[] }).parsed_path)).toEqual([["a"], ["b"]]);
    const headers = (e: Record<string, unknown>) => (e["input"] as { attributes: { request: { http: { headers: Record<string, string> } } } }).attributes.request.http.headers;
    expect(headers(folder.uploaded[0]!)).not.toHaveProperty("x-user-email");
    expect(headers(folder.uploaded[0]!)["x-tenant"]).toBe("acme");
    expect(folder.uploaded[0]!["result"]).toMatchObject({ headers: { "x-user": "alice", "x-internal": "[internal]" } });
    expect(folder.console).toHaveLength(3);
    expect(headers(folder.console[0]!)).not.toHaveProperty("x-user-email");

    // Same revision (the bundle is built with the folder's content hash), same events, byte for byte.
    expect(bundle.uploaded).toEqual(folder.uploaded);
    expect(bundle.console).toEqual(folder.console);
  });
});
