import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminServer } from "../../src/admin/server.js";
import { call } from "./http-client.js";
import { parseProm, valueOf } from "./prom-text.js";
import { drive, expected, startTrafficApp, type Mix } from "./traffic.js";

describe("the real app behind the admin server: /healthz and /metrics after a known traffic mix", () => {
  let t: Awaited<ReturnType<typeof startTrafficApp>>;
  let admin: AdminServer;
  const mix: Mix = { ok: 7, nokey: 3, forbidden: 2, limited: 5, rls: 4 };

  beforeAll(async () => {
    t = await startTrafficApp();
    admin = await AdminServer.start({ addr: "127.0.0.1:0", context: t.app.adminContext, registry: t.app.metrics.registry, logger: t.app.logger });
    await drive(t, mix);
  });
  afterAll(async () => {
    await admin.close();
    await t.close();
  });

  it("/healthz answers ok and /readyz ready once the policy is loaded", async () => {
    const h = await call(`${admin.url}/healthz`);
    expect([h.status, h.body]).toEqual([200, "ok\n"]);
    expect((await call(`${admin.url}/readyz`)).json()).toEqual({ ready: true });
  });

  it("Check counts by result and reason are exact", async () => {
    const { samples, types } = parseProm((await call(`${admin.url}/metrics`)).body);
    const want = expected(mix);
    expect(types["tollgate_check_total"]).toBe("counter");
    expect(valueOf(samples, "tollgate_check_total", { result: "allow", reason: "" })).toBe(want.allowed);
    expect(valueOf(samples, "tollgate_check_total", { result: "deny", reason: "missing_key" })).toBe(3);
    expect(valueOf(samples, "tollgate_check_total", { result: "deny", reason: "forbidden_path" })).toBe(2);
    expect(valueOf(samples, "tollgate_check_total", { result: "deny", reason: "rate_limited" })).toBe(3);
    expect(samples.filter((s) => s.name === "tollgate_check_total").reduce((n, s) => n + s.value, 0)).toBe(mix.ok + mix.nokey + mix.forbidden + mix.limited);
    expect(valueOf(samples, "tollgate_check_duration_seconds_count")).toBe(17);
    expect(valueOf(samples, "tollgate_policy_eval_duration_seconds_count")).toBe(17);
  });

  it("rate-limit counts are exact: ShouldRateLimit by code, over-limit by domain", async () => {
    const { samples } = parseProm((await call(`${admin.url}/metrics`)).body);
    expect(valueOf(samples, "tollgate_ratelimit_calls_total", { code: "OK" })).toBe(2);
    expect(valueOf(samples, "tollgate_ratelimit_calls_total", { code: "OVER_LIMIT" })).toBe(2);
    expect(valueOf(samples, "tollgate_over_limit_total", { domain: "api" })).toBe(2);
    expect(valueOf(samples, "tollgate_over_limit_total", { domain: "policy" })).toBe(3);
    // One store round trip per /limited Check and per ShouldRateLimit call.
    expect(valueOf(samples, "tollgate_limit_store_duration_seconds_count", { store: "memory" })).toBe(9);
    expect(valueOf(samples, "tollgate_limit_store_errors_total", { store: "memory" })).toBe(0);
  });

  it("the active revision is an info metric with value 1, one activation, and process metrics are present", async () => {
    const { samples } = parseProm((await call(`${admin.url}/metrics`)).body);
    const info = samples.filter((s) => s.name === "tollgate_policy_info");
    expect(info).toEqual([{ name: "tollgate_policy_info", labels: { revision: t.app.policy.current()!.revision }, value: 1 }]);
    expect(valueOf(samples, "tollgate_policy_activations_total", { result: "activated" })).toBe(1);
    expect(valueOf(samples, "tollgate_process_start_time_seconds")).toBeGreaterThan(1_600_000_000);
    expect(valueOf(samples, "tollgate_wasm_memory_bytes")).toBeGreaterThan(0);
  });

  it("no label carries a request id, path or free text: every label value comes from a small fixed set", async () => {
    const { samples } = parseProm((await call(`${admin.url}/metrics`)).body);
    const values = new Set(samples.filter((s) => s.name.startsWith("tollgate_") && !s.name.startsWith("tollgate_process") && !s.name.startsWith("tollgate_nodejs")).flatMap((s) => Object.entries(s.labels).filter(([k]) => k !== "le" && k !== "revision").map(([k, v]) => `${k}=${v}`)));
    expect([...values].sort()).toEqual(["code=OK", "code=OVER_LIMIT", "code=ok", "domain=api", "domain=policy", "method=check", "method=shouldRateLimit", "reason=", "reason=forbidden_path", "reason=missing_key", "reason=rate_limited", "result=activated", "result=allow", "result=deny", "store=memory"]);
  });
});
