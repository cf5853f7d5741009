import { copyFileSync, rmSync } from "node:fs";
import path from "node:path";
import { Registry, Counter } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdminServer, type AdminServerOptions } from "../../src/admin/server.js";
import { TollgateError } from "../../src/errors.js";
import { createLogger } from "../../src/observability/logger.js";
import { LogCapture } from "../support/app.js";
import { CertFactory } from "../tls/certs.js";
import { AdminContextDouble } from "./context-double.js";
import { call } from "./http-client.js";

const TOKEN = "s3cret-admin-token-0123456789";

function registry(): Registry {
  const r = new Registry();
  const checks = new Counter({ name: "tollgate_check_total", help: "checks", labelNames: ["result", "reason"], registers: [r] });
  checks.inc({ result: "allow", reason: "" }, 7);
  checks.inc({ result: "deny", reason: "no_key" }, 2);
  return r;
}

const started: AdminServer[] = [];
async function start(opts: Partial<AdminServerOptions> & { logs?: LogCapture } = {}): Promise<{ admin: AdminServer; ctx: AdminContextDouble; logs: LogCapture }> {
  const ctx = (opts.context as AdminContextDouble | undefined) ?? new AdminContextDouble();
  const logs = opts.logs ?? new LogCapture();
  const admin = await AdminServer.start({ addr: "127.0.0.1:0", context: ctx, registry: registry(), logger: createLogger({ destination: logs }), ...opts });
  started.push(admin);
  return { admin, ctx, logs };
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

describe("bind address and token rule", () => {
  it.each([
    ["127.0.0.1:0", undefined, "starts"],
    ["localhost:0", undefined, "starts"],
    ["[::1]:0", undefined, "starts"],
    ["127.0.0.2:0", undefined, /needs a bearer token/],
    ["0.0.0.0:0", undefined, /needs a bearer token/],
    ["127.0.0.2:0", "short", /at least 16 characters/],
    ["127.0.0.2:0", TOKEN, "starts"],
    ["no-port", TOKEN, /expected host:port/],
  ])("%s with token %s – %s", async (addr, token, expected) => {
    const run = start({ addr, token });
    if (expected === "starts") {
      const { admin } = await run;
      expect((await call(`${admin.url}/healthz`)).status).toBe(200);
    } else {
      await expect(run).rejects.toMatchObject({ code: "config_error", message: expect.stringMatching(expected) });
    }
  });

  it("a port already in use is a config_error naming the address", async () => {
    const { admin } = await start();
    await expect(start({ addr: `127.0.0.1:${admin.port}` })).rejects.toMatchObject({ code: "config_error", message: expect.stringContaining(`cannot listen on 127.0.0.1:${admin.port}`) });
  });
});

describe("token enforcement on a non-loopback address (127.0.0.2)", () => {
  let admin: AdminServer;
  let logs: LogCapture;
  beforeAll(async () => {
    logs = new LogCapture();
    admin = await AdminServer.start({ addr: "127.0.0.2:0", token: TOKEN, context: new AdminContextDouble(), registry: registry(), logger: createLogger({ destination: logs }) });
  });
  afterAll(() => admin.close());

  const PROTECTED = ["/metrics", "/v1/status", "/v1/policy/history", "/v1/usage", "/v1/dashboard", "/v1/report?format=json", "/no/such/route"];

  it.each(PROTECTED)("GET %s – 401 without a token, 401 with a wrong one", async (p) => {
    for (const token of [undefined, "wrong-token-wrong-token", `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const r = await call(`${admin.url}${p}`, token === undefined ? {} : { token });
      expect(r.status).toBe(401);
      expect(r.json()).toEqual({ error: { code: "unauthorized", message: "a valid bearer token is required" } });
    }
  });

  it.each([
    ["/metrics", 200],
    ["/v1/status", 200],
    ["/v1/policy/history", 200],
    ["/v1/usage", 200],
    ["/v1/dashboard", 200],
    ["/v1/report?format=json", 200],
    ["/no/such/route", 404],
  ])("GET %s with the token – %i", async (p, status) => {
    expect((await call(`${admin.url}${p}`, { token: TOKEN })).status).toBe(status);
  });

  it("the scheme is case-insensitive but the token is exact; other schemes are refused", async () => {
    expect((await call(`${admin.url}/v1/status`, { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
    expect((await call(`${admin.url}/v1/status`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` } })).status).toBe(401);
    expect((await call(`${admin.url}/v1/status`, { headers: { authorization: `Bearer ${TOKEN} extra` } })).status).toBe(401);
  });

  it.each(["/healthz", "/readyz", "/dashboard/", "/dashboard/app.js"])("%s stays open for probes and the page shell", async (p) => {
    expect((await call(`${admin.url}${p}`)).status).toBe(200);
  });

  it("POST rollback without the token is refused and never reaches the app", async () => {
    const r = await call(`${admin.url}/v1/policy/rollback`, { method: "POST", body: "{}" });
    expect(r.status).toBe(401);
  });

  it("refusals are logged with path and peer, never with the presented token", async () => {
    await call(`${admin.url}/v1/status`, { token: "presented-wrong-token-123" });
    const failed = logs.events("admin_auth_failed");
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.at(-1)).toMatchObject({ path: "/v1/status", remote: "127.0.0.1" });
    expect(logs.raw.join("\n")).not.toContain("presented-wrong-token-123");
    expect(logs.raw.join("\n")).not.toContain(TOKEN);
  });
});

describe("state-changing calls", () => {
  it("without a configured token (loopback) reads are open but rollback and promote answer 403", async () => {
    const { admin, ctx } = await start();
    expect((await call(`${admin.url}/v1/status`)).status).toBe(200);
    for (const p of ["/v1/policy/rollback", "/v1/policy/promote"]) {
      const r = await call(`${admin.url}${p}`, { method: "POST", body: "{}" });
      expect(r.status).toBe(403);
      expect(r.json()).toEqual({ error: { code: "forbidden", message: "state-changing calls need an admin token, and none is configured" } });
    }
    expect(ctx.calls).toEqual([]);
  });

  it("rollback passes the revision and the operator to the app, answers the change and logs it", async () => {
    const { admin, ctx, logs } = await start({ token: TOKEN });
    const r = await call(`${admin.url}/v1/policy/rollback`, { method: "POST", token: TOKEN, headers: { "x-tollgate-operator": "alice@example.com" }, body: JSON.stringify({ revision: "rev-1" }) });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ action: "rollback", operator: "alice@example.com", revision: "rev-1", previousRevision: "rev-3" });
    expect(ctx.calls).toEqual([{ method: "rollback", revision: "rev-1", operator: "alice@example.com" }]);
    expect(logs.events("admin_policy_change")).toEqual([expect.objectContaining({ action: "rollback", operator: "alice@example.com", outcome: "done", revision: "rev-1", previous_revision: "rev-3", requested_revision: "rev-1" })]);
  });

  it("an operator in the body wins over the header; with neither it is 'admin-token'", async () => {
    const { admin, ctx } = await start({ token: TOKEN });
    await call(`${admin.url}/v1/policy/rollback`, { method: "POST", token: TOKEN, headers: { "x-tollgate-operator": "header-op" }, body: JSON.stringify({ operator: "body-op" }) });
    await call(`${admin.url}/v1/policy/rollback`, { method: "POST", token: TOKEN });
    expect(ctx.calls.map((c) => c.operator)).toEqual(["body-op", "admin-token"]);
    expect(ctx.calls.map((c) => c.revision)).toEqual([undefined, undefined]);
  });

  it.each([
    ["a body that is not JSON", { body: "{nope" }, 400, "request_parse_error", /body:/],
    ["a JSON array body", { body: "[1]" }, 400, "request_parse_error", /expected a JSON object/],
    ["an operator with control characters", { body: JSON.stringify({ operator: "eve\nadmin" }) }, 400, "request_parse_error", /operator must be/],
    ["an operator that is not a string", { body: JSON.stringify({ operator: 7 }) }, 400, "request_parse_error", /operator must be/],
    ["a revision that is not a string", { body: JSON.stringify({ revision: 3 }) }, 400, "request_parse_error", /revision must be/],
    ["a body over 16 KiB", { body: JSON.stringify({ revision: "x".repeat(17 * 1024) }) }, 413, "request_too_large", /over 16384 bytes/],
    ["an unknown revision (the app says config_error)", { body: JSON.stringify({ revision: "rev-9" }) }, 400, "config_error", /no kept revision "rev-9"/],
  ])("%s – %i %s", async (_t, req, status, code, message) => {
    const { admin } = await start({ token: TOKEN });
    const r = await call(`${admin.url}/v1/policy/rollback`, { method: "POST", token: TOKEN, ...req });
    expect(r.status).toBe(status);
    expect(r.json()).toEqual({ error: { code, message: expect.stringMatching(message) } });
  });

  it("promote without a candidate is refused with the app's reason and logged as refused", async () => {
    const { admin, ctx, logs } = await start({ token: TOKEN });
    const r = await call(`${admin.url}/v1/policy/promote`, { method: "POST", token: TOKEN, headers: { "x-tollgate-operator": "bob" } });
    expect(r.status).toBe(400);
    expect(r.json()).toEqual({ error: { code: "config_error", message: "no candidate policy is configured" } });
    expect(ctx.calls).toEqual([{ method: "promote", operator: "bob" }]);
    expect(logs.events("admin_policy_change")).toEqual([expect.objectContaining({ action: "promote", operator: "bob", outcome: "refused" })]);
  });

  it("an unexpected failure in the app is a 500 that reveals nothing", async () => {
    const ctx = new AdminContextDouble();
    ctx.failWith = new Error("stack detail /etc/secret/path");
    const { admin } = await start({ token: TOKEN, context: ctx });
    const r = await call(`${admin.url}/v1/policy/promote`, { method: "POST", token: TOKEN });
    expect(r.status).toBe(500);
    expect(r.body).not.toContain("/etc/secret/path");
    expect(r.json()).toEqual({ error: { code: "internal_error", message: "internal error" } });
  });

  it.each([["GET", "/v1/policy/rollback"], ["PUT", "/v1/policy/promote"], ["POST", "/v1/status"], ["DELETE", "/metrics"]])("%s %s – 405", async (method, p) => {
    const { admin, ctx } = await start({ token: TOKEN });
    expect((await call(`${admin.url}${p}`, { method, token: TOKEN })).status).toBe(405);
    expect(ctx.calls).toEqual([]);
  });
});

describe("read endpoints", () => {
  it("/readyz follows the app: 200 ready, 503 not ready", async () => {
    const { admin, ctx } = await start();
    expect((await call(`${admin.url}/readyz`)).json()).toEqual({ ready: true });
    ctx.readyValue = false;
    const r = await call(`${admin.url}/readyz`);
    expect(r.status).toBe(503);
    expect(r.json()).toEqual({ ready: false });
  });

  it("/metrics is the registry's exposition with its content type", async () => {
    const { admin } = await start();
    const r = await call(`${admin.url}/metrics`);
    expect(r.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(r.body).toContain('tollgate_check_total{result="deny",reason="no_key"} 2');
  });

  it("/v1/status adds the admin server's own facts to the app's status", async () => {
    const { admin } = await start({ token: TOKEN });
    const s = (await call(`${admin.url}/v1/status`, { token: TOKEN })).json<Record<string, unknown>>();
    expect(s["admin"]).toEqual({ addr: "127.0.0.1:0", tls: false, tokenRequired: true, localTokenFile: false });
    expect(s["policy"]).toEqual({ activeRevision: "rev-3", revisions: ["rev-3", "rev-2", "rev-1"] });
    expect(s["limitStore"]).toEqual({ kind: "memory", state: "ready" });
  });

  it("/v1/policy/history and /v1/usage wrap the app's answers", async () => {
    const { admin, ctx } = await start();
    expect((await call(`${admin.url}/v1/policy/history`)).json()).toEqual({ entries: ctx.history_ });
    expect((await call(`${admin.url}/v1/usage`)).json()).toEqual({ tenants: ctx.usage_ });
  });

  it("/v1/dashboard: totals, top reasons, tenants and timeline in one document", async () => {
    const { admin } = await start();
    const d = (await call(`${admin.url}/v1/dashboard`)).json<Record<string, unknown>>();
    expect(d["totals"]).toEqual({ allowed: 7, denied: 2, errors: 0, byReason: { no_key: 2 } });
    expect(d["topDenyReasons"]).toEqual([{ reason: "no_key", count: 2 }]);
    expect(d["activeRevision"]).toBe("rev-3");
    expect((d["timeline"] as unknown[]).length).toBe(4);
    expect(d["shadowDisagreements"]).toEqual({});
  });

  it.each([
    ["format=xml", 400, /invalid format "xml"/],
    ["from=yesterday", 400, /invalid from "yesterday"/],
    ["from=2025-02-30", 400, /invalid from "2025-02-30"/],
    ["from=2025-03-02&to=2025-03-01", 400, /is after to/],
  ])("/v1/report?%s – %i", async (q, status, message) => {
    const { admin } = await start();
    const r = await call(`${admin.url}/v1/report?${q}`);
    expect(r.status).toBe(status);
    expect(r.json<{ error: { message: string } }>().error.message).toMatch(message);
  });

  it.each([
    ["html", "text/html; charset=utf-8", "<!doctype html>"],
    ["json", "application/json; charset=utf-8", "{"],
    ["csv", "text/csv; charset=utf-8", "section,control,id,name,value,status,detail"],
  ])("/v1/report?format=%s – %s", async (format, type, start_) => {
    const { admin } = await start();
    const r = await call(`${admin.url}/v1/report?format=${format}&from=2025-01-01&to=2025-01-31`);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe(type);
    expect(r.body.startsWith(start_)).toBe(true);
  });

  it("a stuck app call answers 500 after the call timeout instead of hanging", async () => {
    const ctx = new AdminContextDouble();
    ctx.statusDelayMs = 2000;
    const { admin, logs } = await start({ context: ctx, callTimeoutMs: 100 });
    const t0 = Date.now();
    const r = await call(`${admin.url}/v1/status`);
    expect(r.status).toBe(500);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(logs.events("admin_error").at(-1)).toMatchObject({ path: "/v1/status", error: "admin call timed out after 100 ms" });
  });

  it("oversized request headers are refused with 431", async () => {
    const { admin } = await start();
    const r = await call(`${admin.url}/healthz`, { headers: { "x-big": "a".repeat(20 * 1024) } });
    expect(r.status).toBe(431);
  });

  it("API answers are not cacheable and not sniffable", async () => {
    const { admin } = await start();
    const r = await call(`${admin.url}/v1/status`);
    expect(r.headers["cache-control"]).toBe("no-store");
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
  });
});

describe("dashboard files", () => {
  it.each([
    ["/dashboard/", "text/html; charset=utf-8", "<title>tollgate dashboard</title>"],
    ["/dashboard/app.js", "text/javascript; charset=utf-8", "/v1/dashboard"],
    ["/dashboard/app.css", "text/css; charset=utf-8", ".card"],
    ["/dashboard/vendor/chart.umd.min.js", "text/javascript; charset=utf-8", "Chart.js v4"],
  ])("%s – %s with a strict CSP", async (p, type, content) => {
    const { admin } = await start();
    const r = await call(`${admin.url}${p}`);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe(type);
    expect(r.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(r.body).toContain(content);
  });

  it("/dashboard redirects to /dashboard/; anything else under it is 404, traversal included", async () => {
    const { admin } = await start();
    const r = await call(`${admin.url}/dashboard`);
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe("/dashboard/");
    for (const p of ["/dashboard/../package.json", "/dashboard/%2e%2e/package.json", "/dashboard/index.html", "/dashboard/vendor/chart.js"]) {
      expect((await call(`${admin.url}${p}`)).status, p).toBe(404);
    }
  });
});

describe("HTTPS admin port", () => {
  const f = new CertFactory();
  afterAll(() => rmSync(f.dir, { recursive: true, force: true }));

  it("serves HTTPS with the given files, reports tls: true, and follows a certificate rotation", async () => {
    const ca = f.ca("Admin CA");
    const one = f.leaf(ca, "admin-1", "server");
    const two = f.leaf(ca, "admin-2", "server");
    const cert = path.join(f.dir, "admin.crt");
    const key = path.join(f.dir, "admin.key");
    copyFileSync(one.cert, cert);
    copyFileSync(one.key, key);
    const { admin } = await start({ token: TOKEN, tls: { certFile: cert, keyFile: key, pollMs: 25 } });
    expect(admin.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await call(`${admin.url}/v1/status`, { token: TOKEN, ca: f.read(ca.cert) });
    expect(r.json()["admin"]).toMatchObject({ tls: true });
    await expect(call(`http://127.0.0.1:${admin.port}/healthz`)).rejects.toThrow();

    const { connect } = await import("node:tls");
    const subject = () => new Promise<string>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port: admin.port, ca: f.read(ca.cert), servername: "localhost" }, () => {
        resolve(String(s.getPeerCertificate().subject.CN));
        s.destroy();
      });
      s.once("error", reject);
    });
    expect(await subject()).toBe("admin-1");
    copyFileSync(two.key, key);
    copyFileSync(two.cert, cert);
    const until = Date.now() + 5000;
    while ((await subject()) !== "admin-2" && Date.now() < until) await new Promise((res) => setTimeout(res, 25));
    expect(await subject()).toBe("admin-2");
  });
});

it("TollgateError codes map to HTTP statuses as documented", async () => {
  const { httpStatusOf } = await import("../../src/admin/http.js");
  expect(["request_parse_error", "request_too_large", "config_error", "policy_not_loaded", "policy_build_error", "limit_store_unavailable", "internal_error"].map((c) => httpStatusOf(new TollgateError(c as never, "x")))).toEqual([400, 413, 400, 409, 409, 503, 500]);
});
