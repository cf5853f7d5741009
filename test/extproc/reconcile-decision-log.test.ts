import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockLlm, type MockLlm } from "../deploy/support/mock-llm.js";
import { LogServer } from "../decision-log/log-server.js";
import { startTestApp } from "../support/app.js";
import { EnvoyExtProcDriver, filterConfigFromEnvoyYaml } from "./envoy-driver.js";
import { callUpstream, llmCheck, metadataAfterCheck, packWithTenants, reconciledLine, type LlmCall } from "./stack.js";

// A real Check and a real ext_proc stream (the Envoy-faithful driver, mock-llm upstream) on one
// serve whose decision logs go to a real OPA-compatible receiver: the upload must carry the Check
// event and the reconcile event under the same decision_id, both through the sink's masking step.

const run = randomBytes(4).toString("hex");
const API_KEY = `tg-dl-${run}`;
/** Looks like an Anthropic key to tollgate's built-in secret patterns; the role admits "claude-3-5-haiku*". */
const SECRET = `sk-ant-${randomBytes(16).toString("hex")}`;
const MODEL = `claude-3-5-haiku-${SECRET}`;
/** A policy mask rule for reconcile events only: its effect proves the policy's mask ran on them too. */
const USAGE_MASK = `package system.log

mask contains "/result/operation" if input.path == "tollgate/usage_reconciled"
`;

describe("ext_proc reconcile lines in the uploaded decision logs", () => {
  let server: LogServer;
  let mock: MockLlm;

  beforeAll(async () => {
    server = await LogServer.start();
    mock = await startMockLlm();
  });
  afterAll(async () => {
    await mock?.stop();
    await server?.close();
  });

  it("the Check event and its usage_reconciled event share the decision_id, and both are masked", async () => {
    const policies = packWithTenants([{ name: `dl${run}`, apiKey: API_KEY, limits: { tokens_per_minute: 1_000_000 } }]);
    writeFileSync(path.join(policies, "usage_log.rego"), USAGE_MASK);
    const t = await startTestApp(policies, { decisionLogUrl: server.url });
    const driver = new EnvoyExtProcDriver(`127.0.0.1:${t.app.grpcPort}`, { ...filterConfigFromEnvoyYaml(), messageTimeoutMs: 10_000 });
    let decisionId: string;
    let line: Record<string, unknown>;
    try {
      const call: LlmCall = { path: "/v1/messages", body: { model: MODEL, max_tokens: 500, stream: true, messages: [{ role: "user", content: "Bonjour" }] } };
      const res = await t.check(llmCheck(call, API_KEY));
      expect(res.status?.code, JSON.stringify(res.deniedResponse?.body)).toBe(0);
      decisionId = res.dynamicMetadata!["decision_id"] as string;
      const result = await driver.drive({ metadata: metadataAfterCheck(res), response: await callUpstream(mock.url, call, 7) });
      expect(result.ending).toBe("complete");
      line = await reconciledLine(t.logs, decisionId);
    } finally {
      driver.close();
      await t.close(); // flushes the sink
    }
    const events = server.received.flatMap((r) => r.events).filter((e) => e["decision_id"] === decisionId);
    expect(events.map((e) => e["path"])).toEqual(["envoy/authz/allow", "tollgate/usage_reconciled"]);
    const usage = events[1]!;
    // The uploaded result is the console line (which the logger masked) less the logger's own fields and the decision_id the event carries itself.
    const { level: _level, msg: _msg, service: _service, time: _time, event: _event, decision_id: _id, operation, ...logged } = line as Record<string, unknown> & { operation: string };
    expect(operation).toBe("chat");
    expect(usage["result"]).toEqual({ event: "usage_reconciled", ...logged });
    expect(usage).toMatchObject({ erased: ["/result/operation"], timestamp: expect.any(String) });
    expect((usage["result"] as { outcome: string; actual_tokens: number; counters: unknown[] }).outcome).toBe("completed");
    expect((usage["result"] as { counters: unknown[] }).counters.length).toBeGreaterThan(0);
    expect(usage["result"]).toMatchObject({ model: "claude-3-5-haiku-[REDACTED:anthropic_api_key]" });
    expect(JSON.stringify(server.received.map((r) => r.text))).not.toContain(SECRET);
    expect(line["model"]).toBe("claude-3-5-haiku-[REDACTED:anthropic_api_key]");
  });
});
