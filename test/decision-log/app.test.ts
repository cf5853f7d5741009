import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkRequest, startTestApp } from "../support/app.js";
import { LogServer } from "./log-server.js";

const POLICY = 'package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-user": "alice"}}\n';
const LOG_RULES = `package system.log

mask contains "/input/attributes/request/http/headers/x-internal-note"

drop if input.input.parsed_path == ["healthz"]
`;

describe("decision logs from the running app to an OPA-compatible service", () => {
  it("every Check becomes an event: masked by policy and built-in rules, dropped when system.log.drop says so", async () => {
    const server = await LogServer.start();
    const tokenFile = path.join(mkdtempSync(path.join(os.tmpdir(), "tg-dl-")), "token");
    writeFileSync(tokenFile, "decision-log-token\n");
    const t = await startTestApp({ "p.rego": POLICY, "log.rego": LOG_RULES }, { decisionLogUrl: server.url, decisionLogTokenFile: tokenFile });
    try {
      const ids: string[] = [];
      for (const p of ["/a", "/healthz", "/b"]) {
        const res = await t.check(checkRequest({ path: p, headers: { authorization: "Bearer sk-client-secret-123456", "x-internal-note": "do not log" } }));
        ids.push(res.dynamicMetadata!["decision_id"] as string);
      }
    } finally {
      await t.close(); // flushes the sink
    }
    const events = server.received.flatMap((r) => r.events);
    await server.close();
    expect(server.received[0]!.headers["authorization"]).toBe("Bearer decision-log-token");
    expect(server.received[0]!.path).toBe("/logs");
    expect(events.map((e) => (e["input"] as { parsed_path: string[] }).parsed_path)).toEqual([["a"], ["b"]]);
    const first = events[0]!;
    expect(first).toMatchObject({ path: "envoy/authz/allow", revision: expect.stringMatching(/^[0-9a-f]{16}$/), result: { allowed: true, headers: { "x-user": "alice" } } });
    const headers = (first["input"] as { attributes: { request: { http: { headers: Record<string, string> } } } }).attributes.request.http.headers;
    expect(headers).not.toHaveProperty("x-internal-note");
    expect(headers["authorization"]).toBe("[REDACTED]");
    expect(JSON.stringify(events)).not.toContain("sk-client-secret-123456");
  });
});
