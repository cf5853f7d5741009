import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LlmUsage } from "../../src/admin/llm-usage.js";
import { startMockLlm, type MockLlm } from "../deploy/support/mock-llm.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { EnvoyExtProcDriver, filterConfigFromEnvoyYaml } from "./envoy-driver.js";
import { callUpstream, llmCheck, metadataAfterCheck, packWithTenants, reconciledLine, type LlmCall } from "./stack.js";

// The admin view of actual usage next to reservations: a real serve (shipped LLM pack, memory
// store) takes real Checks and real ext_proc streams (the Envoy-faithful driver, mock-llm
// upstream); /v1/llm-usage and the dashboard must show what the usage_reconciled lines say.

const CHROMIUM = process.env["CHROMIUM_BIN"] ?? "/usr/bin/chromium";
const run = randomBytes(4).toString("hex");
const BIG = { name: `big${run}`, apiKey: `tg-big-${run}` };
const SMALL = { name: `small${run}`, apiKey: `tg-small-${run}` };

const chat = (extra: Record<string, unknown>): Record<string, unknown> => ({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Bonjour — ça va? 🎉" }], max_tokens: 800, ...extra });

/** Each response of the run, with the tenant whose key it used. */
const TRAFFIC: [typeof BIG, LlmCall][] = [
  [BIG, { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true } }) }],
  [BIG, { path: "/v1/chat/completions", body: chat({ stream: true }), mock: { "x-mock-reply-tokens": "40" } }], // no usage chunk: estimated
  [BIG, { path: "/api/chat", body: { model: "llama3.2", messages: [{ role: "user", content: "Hola" }], options: { num_predict: 600 } } }],
  [SMALL, { path: "/v1/chat/completions", body: chat({ stream: true }), mock: { "x-mock-status": "500" } }], // refunded whole
  // 2000 cached prompt tokens Check cannot see: over the 1,000 tokens a minute, so stopped and over-charged.
  [SMALL, { path: "/v1/messages", body: { model: "claude-3-5-haiku-latest", max_tokens: 300, stream: true, messages: [{ role: "user", content: "Summarise." }] }, mock: { "x-mock-cache-read": "2000" } }],
];

interface Line {
  tenant: string;
  outcome: string;
  provider: string;
  reserved_tokens: number;
  actual_tokens: number;
  usage_source?: string;
  counters: { applied?: boolean }[];
}

/** What the view must show for these lines, computed from the lines alone. */
function expectedFrom(lines: Line[], tenant: string) {
  const mine = lines.filter((l) => l.tenant === tenant);
  const applied = (l: Line) => l.counters.some((c) => c.applied);
  const sum = (f: (l: Line) => number) => mine.reduce((n, l) => n + f(l), 0);
  const responses: Record<string, number> = {};
  for (const l of mine) responses[l.outcome] = (responses[l.outcome] ?? 0) + 1;
  return {
    tenant,
    reserved: sum((l) => l.reserved_tokens),
    actual: sum((l) => l.actual_tokens),
    refunded: sum((l) => (applied(l) ? Math.max(0, l.reserved_tokens - l.actual_tokens) : 0)),
    overcharged: sum((l) => (applied(l) ? Math.max(0, l.actual_tokens - l.reserved_tokens) : 0)),
    responses,
    streamsStopped: responses["stopped"] ?? 0,
    reconcileFailures: sum((l) => l.counters.filter((c) => c.applied === false).length),
  };
}

describe("actual usage next to reservations: /v1/llm-usage and the dashboard, after real Check + ext_proc traffic", () => {
  let t: TestApp;
  let mock: MockLlm;
  const lines: Line[] = [];

  beforeAll(async () => {
    const policies = packWithTenants([
      { name: BIG.name, apiKey: BIG.apiKey, limits: { tokens_per_minute: 1_000_000, tokens_per_day: 10_000_000 } },
      { name: SMALL.name, apiKey: SMALL.apiKey, limits: { tokens_per_minute: 1_000 } },
    ]);
    t = await startTestApp(policies);
    mock = await startMockLlm();
    const driver = new EnvoyExtProcDriver(`127.0.0.1:${t.app.grpcPort}`, { ...filterConfigFromEnvoyYaml(), messageTimeoutMs: 10_000 });
    try {
      let seed = 1;
      for (const [who, call] of TRAFFIC) {
        const res = await t.check(llmCheck(call, who.apiKey));
        expect(res.status?.code, JSON.stringify(res.deniedResponse?.body)).toBe(0);
        await driver.drive({ metadata: metadataAfterCheck(res), response: await callUpstream(mock.url, call, seed++) });
        lines.push((await reconciledLine(t.logs, res.dynamicMetadata!["decision_id"] as string)) as unknown as Line);
      }
    } finally {
      driver.close();
    }
  }, 60_000);

  afterAll(async () => {
    await mock?.stop();
    await t?.close();
  });

  const view = async (): Promise<LlmUsage> => (await (await fetch(`http://127.0.0.1:${t.app.adminPort}/v1/llm-usage`, { signal: AbortSignal.timeout(10_000) })).json()) as LlmUsage;

  it("the traffic covers every column: refunds, an over-charge, a stop and an estimated count", () => {
    expect(lines.map((l) => [l.tenant, l.outcome])).toEqual([
      [BIG.name, "completed"],
      [BIG.name, "completed"],
      [BIG.name, "completed"],
      [SMALL.name, "upstream_error"],
      [SMALL.name, "stopped"],
    ]);
    expect(lines[1]!.usage_source).toBe("estimated");
    expect(lines[4]!.actual_tokens).toBeGreaterThan(lines[4]!.reserved_tokens);
  });

  it("per tenant: reserved, actual, refunded, over-charged, responses by outcome, stopped and failures equal the sums of the usage_reconciled lines", async () => {
    const u = await view();
    expect(u.scope).toBe("process");
    expect(u.tenants).toEqual(expect.arrayContaining([expectedFrom(lines, BIG.name), expectedFrom(lines, SMALL.name)]));
    const small = u.tenants.find((x) => x.tenant === SMALL.name)!;
    // The 500 gave its whole reservation back; the stopped stream was charged above its reservation.
    expect(small.refunded).toBe(lines[3]!.reserved_tokens);
    expect(small.overcharged).toBe(lines[4]!.actual_tokens - lines[4]!.reserved_tokens);
  });

  it("per provider: the same tokens split by provider, with the estimated part apart", async () => {
    const u = await view();
    const of = (p: string) => u.providers.find((x) => x.provider === p)!;
    const sum = (p: string, k: "reserved_tokens" | "actual_tokens") => lines.filter((l) => l.provider === p).reduce((n, l) => n + l[k], 0);
    for (const p of ["openai", "anthropic", "ollama"]) expect(of(p)).toMatchObject({ reserved: sum(p, "reserved_tokens"), actual: sum(p, "actual_tokens") });
    expect(of("openai").estimated).toBe(lines[1]!.actual_tokens);
    expect(of("anthropic").streamsStopped).toBe(1);
    expect(u.streams).toMatchObject({ completed: 3, upstream_error: 1, stopped: 1 });
  });

  it("the dashboard draws the same numbers in its chart and tables (headless Chromium)", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_BIN)`);
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(e.message));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(m.text());
      });
      await page.goto(`http://127.0.0.1:${t.app.adminPort}/dashboard/`);
      await page.waitForFunction(() => (globalThis as unknown as { tollgateDashboard?: { updates: number } }).tollgateDashboard!.updates > 0, undefined, { timeout: 15_000 });
      const u = await view();
      const rows = await page.$$eval("#llm-tenant-table tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
      expect(rows).toEqual(
        u.tenants.map((x) => [x.tenant, String(Object.values(x.responses).reduce((a, b) => a + b, 0)), ...[x.reserved, x.actual, x.refunded, x.overcharged, x.streamsStopped, x.reconcileFailures].map(String)]),
      );
      const providers = await page.$$eval("#llm-provider-table tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
      expect(providers).toEqual(u.providers.map((p) => p.provider));
      const chart = await page.evaluate(() => {
        const c = (globalThis as unknown as { tollgateDashboard: { charts: { llmTenants: { data: { labels: string[]; datasets: { data: number[] }[] } } } } }).tollgateDashboard.charts.llmTenants;
        return { labels: c.data.labels, reserved: c.data.datasets[0]!.data, actual: c.data.datasets[1]!.data };
      });
      expect(chart).toEqual({ labels: u.tenants.map((x) => x.tenant), reserved: u.tenants.map((x) => x.reserved), actual: u.tenants.map((x) => x.actual) });
      expect(await page.textContent("#llm-stopped")).toBe("1");
      expect(await page.textContent("#llm-scope")).toBe("this process");
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
