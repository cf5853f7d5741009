import { randomBytes } from "node:crypto";
import http from "node:http";
import { rmSync } from "node:fs";
import { credentials, Metadata } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LlmUsage } from "../../src/admin/llm-usage.js";
import { AuthorizationClient, type CheckRequest, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { startMockLlm, type MockLlm } from "../deploy/support/mock-llm.js";
import { serve, type Served } from "../support/cli.js";
import { waitFor } from "../support/wait.js";
import { EnvoyExtProcDriver, filterConfigFromEnvoyYaml } from "./envoy-driver.js";
import { callUpstream, llmCheck, metadataAfterCheck, packWithTenants, type LlmCall } from "./stack.js";

// `serve --workers 2`: each worker counts the ext_proc streams it served in its own registry;
// /v1/llm-usage must answer the sum over every worker, whichever worker takes the call.

const run = randomBytes(4).toString("hex");
const TENANT = { name: `w${run}`, apiKey: `tg-w-${run}` };
const RESPONSES = 6;

/** Different target strings get different gRPC connections (grpc-js pools connections by target), so the primary hands them to different workers. */
const targets = (port: number) => [`127.0.0.1:${port}`, `ipv4:127.0.0.1:${port}`, `localhost:${port}`, `dns:127.0.0.1:${port}`];

/** One GET on a fresh connection: node:cluster hands each new connection to the next worker. */
function getFresh(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(JSON.parse(body)));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

function check(client: AuthorizationClient, req: CheckRequest): Promise<CheckResponse> {
  return new Promise((resolve, reject) => client.check(req, new Metadata(), { deadline: Date.now() + 10_000 }, (err, res) => (err || !res ? reject(err ?? new Error("no answer")) : resolve(res))));
}

describe("--workers 2: the usage view sums every worker", () => {
  let served: Served;
  let adminPort: number;
  let mock: MockLlm;
  let policies: string;
  const actual: number[] = [];
  const reserved: number[] = [];

  beforeAll(async () => {
    policies = packWithTenants([{ name: TENANT.name, apiKey: TENANT.apiKey, limits: { tokens_per_minute: 1_000_000 } }]);
    served = await serve(["--workers", "2", "--policies", policies, "--no-policy-tests", "--redis-url", "redis://127.0.0.1:6379", "--log-level", "info"], { TOLLGATE_SHUTDOWN_GRACE_MS: "1000" });
    adminPort = Number(/"admin_port":(\d+)/.exec(served.output.join(""))?.[1]);
    await waitFor(async () => ((await getFresh(adminPort, "/v1/status").catch(() => ({}))) as { workers?: { revision?: string }[] }).workers?.filter((w) => w.revision).length === 2, 30_000, "two workers with a revision");
    mock = await startMockLlm();
    for (let i = 0; i < RESPONSES; i++) {
      const target = targets(served.port)[i % 4]!;
      const authz = new AuthorizationClient(target, credentials.createInsecure());
      const driver = new EnvoyExtProcDriver(target, { ...filterConfigFromEnvoyYaml(), messageTimeoutMs: 10_000 });
      try {
        const call: LlmCall = { path: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 500, stream: true, stream_options: { include_usage: true } }, mock: { "x-mock-reply-tokens": String(10 + i) } };
        const res = await check(authz, llmCheck(call, TENANT.apiKey));
        expect(res.status?.code).toBe(0);
        await driver.drive({ metadata: metadataAfterCheck(res), response: await callUpstream(mock.url, call, i + 1) });
        const id = res.dynamicMetadata!["decision_id"] as string;
        let line: { actual_tokens: number; reserved_tokens: number } | undefined;
        await waitFor(() => {
          const text = served.output.join("");
          const m = new RegExp(`\\{[^\\n]*"event":"usage_reconciled"[^\\n]*"decision_id":"${id}"[^\\n]*\\}`).exec(text);
          line = m ? (JSON.parse(m[0]) as typeof line) : undefined;
          return line !== undefined;
        }, 10_000, `usage_reconciled ${id}`);
        actual.push(line!.actual_tokens);
        reserved.push(line!.reserved_tokens);
      } finally {
        driver.close();
        authz.close();
      }
    }
  }, 90_000);

  afterAll(async () => {
    await mock?.stop();
    if (served && served.proc.exitCode === null) {
      served.proc.kill("SIGTERM");
      await served.exited;
    }
    rmSync(policies, { recursive: true, force: true });
    const redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`*tenant:${TENANT.name}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it("every answer, from either worker, holds all the responses and their tokens", async () => {
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    // Fresh connections alternate between the two workers: a per-worker view would differ between answers.
    const answers = (await Promise.all(Array.from({ length: 4 }, () => getFresh(adminPort, "/v1/llm-usage")))) as LlmUsage[];
    for (const u of answers) {
      expect(u.scope).toBe("all_workers");
      expect(u.tenants).toEqual([expect.objectContaining({ tenant: TENANT.name, responses: { completed: RESPONSES }, actual: sum(actual), reserved: sum(reserved), refunded: sum(reserved) - sum(actual) })]);
    }
    const dashboards = (await Promise.all(Array.from({ length: 2 }, () => getFresh(adminPort, "/v1/dashboard")))) as { llmUsage: LlmUsage }[];
    for (const d of dashboards) expect(d.llmUsage).toEqual(answers[0]);
  });
});
