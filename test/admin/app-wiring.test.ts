import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthorizationClient, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { checkRequest, startTestApp, writePolicyDir, type TestApp } from "../support/app.js";
import { runCli, runCliAsync } from "../support/cli.js";
import { waitFor } from "../support/wait.js";
import { CertFactory } from "../tls/certs.js";

const TOKEN = "test-admin-token-0123456789";
const versioned = (v: string) => `package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-version": "${v}"}}\n`;

describe("admin API on the real app", () => {
  let t: TestApp;
  let dir: string;
  let audit: string;
  let url: string;
  beforeAll(async () => {
    dir = writePolicyDir({ "p.rego": versioned("one") });
    audit = path.join(mkdtempSync(path.join(os.tmpdir(), "tg-audit-")), "audit.jsonl");
    t = await startTestApp(dir, { watch: true, auditFile: audit, adminToken: TOKEN });
    url = `http://127.0.0.1:${t.app.adminPort}`;
  });
  afterAll(() => t.close());

  const get = (p: string, token?: string) => fetch(`${url}${p}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  it("/healthz and /readyz answer without a token; /v1/status needs it", async () => {
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
    expect((await get("/v1/status")).status).toBe(401);
    const status = (await (await get("/v1/status", TOKEN)).json()) as { policy: { activeRevision: string }; limitStore: { kind: string } };
    expect(status.policy.activeRevision).toBe(t.app.policy.current()!.revision);
    expect(status.limitStore.kind).toBe("memory");
  });

  it("the masking self-test runs once per active revision, not on every /v1/status poll", async () => {
    type Masking = { settings: { revision?: string }; selfTest: { ranAt: string; passed: boolean } };
    const masking = async () => ((await (await get("/v1/status", TOKEN)).json()) as { security: { masking: Masking } }).security.masking;
    const first = await masking();
    await new Promise((r) => setTimeout(r, 5));
    const again = await masking();
    expect(again.selfTest.ranAt).toBe(first.selfTest.ranAt);
    expect(first.settings.revision).toBe(t.app.policy.current()!.revision);
    expect(first.selfTest.passed).toBe(true);
  });

  it("/metrics counts the Checks this app answered", async () => {
    await t.check(checkRequest({}));
    await t.check(checkRequest({}));
    const text = await (await get("/metrics", TOKEN)).text();
    expect(text).toMatch(/tollgate_check_total\{result="allow",reason=""\} 2/);
    expect(text).toMatch(/tollgate_policy_info\{revision="[0-9a-f]{16}"\} 1/);
  });

  it("tollgate rollback – the CLI rolls the running server back, audited with the operator", async () => {
    const first = t.app.policy.current()!.revision;
    writeFileSync(path.join(dir, "p.rego"), versioned("two"));
    await waitFor(() => t.app.policy.current()!.revision !== first, 15_000, "the reload");
    const r = await runCliAsync(["rollback", "--admin-url", url, "--operator", "carol"], { TOLLGATE_ADMIN_TOKEN: TOKEN });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: "rollback", operator: "carol", revision: first });
    expect(t.app.policy.current()!.revision).toBe(first);
    // The evidence follows the active revision (each revision has its own, run when it was first asked for).
    const status = (await (await get("/v1/status", TOKEN)).json()) as { security: { masking: { settings: { revision?: string } } } };
    expect(status.security.masking.settings.revision).toBe(first);
    const { entries: history } = (await (await get("/v1/policy/history", TOKEN)).json()) as { entries: { event: string; operator?: string }[] };
    expect(history[0]).toMatchObject({ event: "rolled_back", operator: "carol" });
    const verify = runCli(["audit", "verify", "--file", audit]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  });

  it("tollgate rollback without the token – refused, nothing changes", async () => {
    const before = t.app.policy.current()!.revision;
    const r = await runCliAsync(["rollback", "--admin-url", url], { TOLLGATE_ADMIN_TOKEN: "" });
    expect(r.status).not.toBe(0);
    expect(t.app.policy.current()!.revision).toBe(before);
  });
});

describe("gRPC mTLS on the real app", () => {
  const f = new CertFactory();
  const ca = f.ca("tollgate-test-ca");
  const server = f.leaf(ca, "localhost", "server");
  const client = f.leaf(ca, "envoy", "client");
  const otherCa = f.ca("other-ca");
  const stranger = f.leaf(otherCa, "stranger", "client");
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ "p.rego": "package envoy.authz\n\nallow := true\n" }, { grpcTlsCertFile: server.cert, grpcTlsKeyFile: server.key, grpcTlsClientCaFile: ca.cert });
  });
  afterAll(() => t.close());

  function check(pair: { cert: string; key: string } | undefined): Promise<CheckResponse | number> {
    const creds = credentials.createSsl(f.read(ca.cert), pair ? f.read(pair.key) : null, pair ? f.read(pair.cert) : null);
    const c = new AuthorizationClient(`localhost:${t.app.grpcPort}`, creds, { "grpc.use_local_subchannel_pool": 1 });
    return new Promise((resolve) =>
      c.check(checkRequest({}), new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
        c.close();
        resolve(err ? err.code : res!);
      }),
    );
  }

  it("a client certificate from the trusted CA passes Check", async () => {
    expect(((await check(client)) as CheckResponse).status?.code).toBe(0);
  });

  it.each([
    ["no client certificate", undefined],
    ["a certificate from another CA", "stranger"],
  ])("%s – refused (UNAVAILABLE)", async (_n, who) => {
    expect(await check(who ? stranger : undefined)).toBe(14);
  });
});

describe("tenant-labelled metrics (metricsTenantLabels)", () => {
  it("counts Checks per tenant from dynamic_metadata.tenant, only when turned on", async () => {
    const policy = 'package envoy.authz\n\nallow := {"allowed": input.parsed_path[0] != "no", "dynamic_metadata": {"tenant": input.parsed_path[1]}}\n';
    const on = await startTestApp({ "p.rego": policy }, { metricsTenantLabels: true });
    const off = await startTestApp({ "p.rego": policy });
    try {
      for (const p of ["/yes/acme", "/yes/acme", "/no/acme", "/yes/globex"]) {
        await on.check(checkRequest({ path: p }));
        await off.check(checkRequest({ path: p }));
      }
      const text = await on.app.metrics.registry.metrics();
      expect(text).toContain('tollgate_tenant_checks_total{tenant="acme",result="allow"} 2');
      expect(text).toContain('tollgate_tenant_checks_total{tenant="acme",result="deny"} 1');
      expect(text).toContain('tollgate_tenant_checks_total{tenant="globex",result="allow"} 1');
      expect(await off.app.metrics.registry.metrics()).not.toContain("tollgate_tenant_checks_total");
      // A tenant named from client-sent text is a label of at most 128 characters, as in the decision line.
      await on.check(checkRequest({ path: `/yes/${"x".repeat(4000)}` }));
      const labels = [...(await on.app.metrics.registry.metrics()).matchAll(/tollgate_tenant_checks_total\{tenant="([^"]*)"/g)].map((m) => m[1]!);
      expect(labels).toContain("x".repeat(128));
      expect(Math.max(...labels.map((l) => l.length))).toBe(128);
    } finally {
      await on.close();
      await off.close();
    }
  });
});

describe("limit store outage in metrics", () => {
  it("each descriptor answered by its failure_mode is counted by mode", async () => {
    const { RateLimitServiceClient, RateLimitRequest } = await import("../../src/gen/envoy/service/ratelimit/v3/rls.js");
    const { writeFileSync: write, mkdtempSync: mk } = await import("node:fs");
    const cfg = mk(path.join(os.tmpdir(), "tg-rl-"));
    write(path.join(cfg, "c.yaml"), "domain: d\ndescriptors:\n  - key: open\n    rate_limit: { unit: minute, requests_per_unit: 5 }\n  - key: closed\n    rate_limit: { unit: minute, requests_per_unit: 5, failure_mode: deny }\n");
    // Port 1 on loopback: nothing listens, so every store call fails fast.
    const t = await startTestApp({ "p.rego": "package envoy.authz\n\nallow := true\n" }, { redisUrl: "redis://127.0.0.1:1", ratelimitConfig: cfg });
    const c = new RateLimitServiceClient(`127.0.0.1:${t.app.grpcPort}`, credentials.createInsecure());
    try {
      const req = RateLimitRequest.fromJSON({ domain: "d", descriptors: [{ entries: [{ key: "open", value: "x" }] }, { entries: [{ key: "closed", value: "y" }] }] });
      const res = await new Promise<{ overallCode: number }>((resolve, reject) => c.shouldRateLimit(req, (err, r) => (err ? reject(err) : resolve(r!))));
      expect(res.overallCode).toBe(2);
      const text = await t.app.metrics.registry.metrics();
      expect(text).toContain('tollgate_limit_failure_mode_total{mode="allow"} 1');
      expect(text).toContain('tollgate_limit_failure_mode_total{mode="deny"} 1');
    } finally {
      c.close();
      await t.close();
    }
  });
});

describe("a ShouldRateLimit call the service refuses", () => {
  it("answers INVALID_ARGUMENT, is logged with its reason and counted as an error", async () => {
    const { RateLimitServiceClient, RateLimitRequest } = await import("../../src/gen/envoy/service/ratelimit/v3/rls.js");
    const t = await startTestApp({ "p.rego": "package envoy.authz\n\nallow := true\n" });
    const c = new RateLimitServiceClient(`127.0.0.1:${t.app.grpcPort}`, credentials.createInsecure());
    try {
      const req = RateLimitRequest.fromJSON({ domain: "", descriptors: [{ entries: [{ key: "a", value: "b" }] }] });
      await expect(new Promise((resolve, reject) => c.shouldRateLimit(req, (err, r) => (err ? reject(err) : resolve(r))))).rejects.toMatchObject({ code: 3 });
      expect(t.logs.events("grpc_call_failed")).toEqual([expect.objectContaining({ level: "warn", method: "shouldRateLimit", code: "request_parse_error" })]);
      expect(await t.app.metrics.registry.metrics()).toContain('tollgate_grpc_calls_total{method="shouldRateLimit",code="request_parse_error"} 1');
    } finally {
      c.close();
      await t.close();
    }
  });
});
