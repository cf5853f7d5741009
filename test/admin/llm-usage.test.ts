import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { llmUsageFromRegistry, llmUsageFromText } from "../../src/admin/llm-usage.js";
import { ExtProcMetrics, MAX_TENANT_LABELS, type ReconciledCount } from "../../src/extproc/metrics.js";

const base: ReconciledCount = { provider: "openai", tenant: "acme", outcome: "completed", reserved: 1000, hasCounters: true, actual: 250, source: "reported", applied: true, failures: [], malformed: 0 };

describe("the LLM usage view, from ext_proc's counters", () => {
  it("per tenant and provider: refunds, over-charges, stops, failures; the Prometheus text (what --workers aggregates) reads the same as the registry", async () => {
    const registry = new Registry();
    const m = new ExtProcMetrics(registry);
    const odd = 'we"ird\\ten\nant';
    m.reconciled(base);
    m.reconciled({ ...base, provider: "anthropic", tenant: odd, outcome: "stopped", reserved: 300, actual: 2015 });
    m.reconciled({ ...base, tenant: odd, outcome: "upstream_error", actual: 0, source: undefined });
    m.reconciled({ ...base, provider: "ollama", source: "estimated", actual: 40, applied: false, failures: ["window_rolled", "window_rolled"] });
    m.reconciled({ ...base, tenant: undefined, provider: "not-a-provider", failures: ["store_unavailable"], applied: false });

    const view = await llmUsageFromRegistry(registry);
    expect(view.tenants).toEqual([
      { tenant: odd, reserved: 1300, actual: 2015, refunded: 1000, overcharged: 1715, responses: { stopped: 1, upstream_error: 1 }, streamsStopped: 1, reconcileFailures: 0 },
      { tenant: "acme", reserved: 2000, actual: 290, refunded: 750, overcharged: 0, responses: { completed: 2 }, streamsStopped: 0, reconcileFailures: 2 },
      { tenant: "unknown", reserved: 1000, actual: 250, refunded: 0, overcharged: 0, responses: { completed: 1 }, streamsStopped: 0, reconcileFailures: 1 },
    ]);
    expect(view.providers.find((p) => p.provider === "ollama")).toEqual({ provider: "ollama", reserved: 1000, actual: 40, estimated: 40, refunded: 0, overcharged: 0, streamsStopped: 0 });
    expect(view.providers.map((p) => p.provider).sort()).toEqual(["anthropic", "ollama", "openai", "other"]);
    expect(view.reconcileFailures).toEqual({ window_rolled: 2, store_unavailable: 1 });
    expect(view.streams).toEqual({ completed: 3, stopped: 1, upstream_error: 1 });
    expect(llmUsageFromText(await registry.metrics())).toEqual({ ...view, scope: "all_workers" });
  });

  it(`tenant labels stay bounded: the first ${MAX_TENANT_LABELS} tenants, then "other"`, async () => {
    const registry = new Registry();
    const m = new ExtProcMetrics(registry);
    for (let i = 0; i < MAX_TENANT_LABELS + 5; i++) m.reconciled({ ...base, tenant: `t${i}` });
    m.reconciled({ ...base, tenant: "t0" });
    m.reconciled({ ...base, tenant: "x".repeat(500) });
    const tenants = (await llmUsageFromRegistry(registry)).tenants;
    expect(tenants).toHaveLength(MAX_TENANT_LABELS + 1);
    expect(tenants.find((t) => t.tenant === "other")!.responses).toEqual({ completed: 6 });
    expect(tenants.find((t) => t.tenant === "t0")!.responses).toEqual({ completed: 2 });
  });
});
