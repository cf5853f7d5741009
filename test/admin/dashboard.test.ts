import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminServer } from "../../src/admin/server.js";
import { checkRequest } from "../support/app.js";
import { CANDIDATE_POLICY, drive, startTrafficApp } from "./traffic.js";

const CHROMIUM = process.env["CHROMIUM_BIN"] ?? "/usr/bin/chromium";
const ARTIFACTS = path.resolve("test-artifacts");
const TOKEN = "dashboard-admin-token-7f3a9c2e51";
/** Credentials the traffic carries: none of them may ever reach the page. */
const CLIENT_SECRETS = ["sk-live-client-key-4c1d2e3f", "xkey-5566778899aabbcc"];

interface ChartSummary {
  labels: string[];
  sums: number[];
  points: number;
}

async function chartSummary(page: Page, id: string): Promise<ChartSummary> {
  return page.evaluate((canvasId) => {
    const g = globalThis as unknown as { Chart: { getChart(id: string): { data: { labels?: unknown[]; datasets: { data: unknown[] }[] } } | undefined } };
    const chart = g.Chart.getChart(canvasId)!;
    const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "object" && v !== null && "x" in v ? 1 : 0);
    return {
      labels: (chart.data.labels ?? []).map(String),
      sums: chart.data.datasets.map((d) => d.data.reduce<number>((n, v) => n + num(v), 0)),
      points: chart.data.datasets.reduce((n, d) => n + d.data.length, 0),
    };
  }, id);
}

describe("live dashboard in headless Chromium against a running tollgate with traffic flowing", () => {
  let t: Awaited<ReturnType<typeof startTrafficApp>>;
  let admin: AdminServer;
  let browser: Browser;
  let page: Page;
  let stop = false;
  let traffic: Promise<void>;
  const responses: string[] = [];
  const problems: string[] = [];
  const run = `dash-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_BIN)`);
    const candidate = mkdtempSync(path.join(tmpdir(), "tollgate-cand-"));
    writeFileSync(path.join(candidate, "authz.rego"), CANDIDATE_POLICY["authz.rego"]);
    t = await startTrafficApp({ candidatePolicies: candidate });
    admin = await AdminServer.start({
      addr: "127.0.0.1:0", token: TOKEN, context: t.app.adminContext,
      registry: t.app.metrics.registry, logger: t.app.logger, sampleIntervalMs: 400,
    });
    await drive(t, { ok: 4, nokey: 2, forbidden: 1, limited: 3, rls: 3 }, run);
    traffic = (async () => {
      while (!stop) {
        const headers = { "x-run": run, authorization: `Bearer ${CLIENT_SECRETS[0]}`, "x-api-key": CLIENT_SECRETS[1]! };
        await Promise.all([
          t.check(checkRequest({ path: "/ok", headers })),
          t.check(checkRequest({ path: "/ok", headers })),
          t.check(checkRequest({ path: "/nokey", headers })),
          t.check(checkRequest({ path: "/elsewhere", headers })),
        ]);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()} at ${m.location().url}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("response", async (r) => {
      if (r.url().includes("/v1/")) responses.push(await r.text().catch(() => ""));
    });
    await page.goto(`${admin.url}/dashboard/#token=${TOKEN}`);
    await page.waitForFunction(() => {
      const s = (globalThis as unknown as { tollgateDashboard?: { updates: number; charts: { rates: { data: { datasets: { data: number[] }[] } } } } }).tollgateDashboard;
      if (!s || s.updates < 3) return false;
      const [allowed, denied] = s.charts.rates.data.datasets;
      return allowed!.data.some((v) => v > 0) && denied!.data.some((v) => v > 0);
    }, undefined, { timeout: 20_000 });
  }, 60_000);

  afterAll(async () => {
    stop = true;
    await traffic;
    await browser?.close();
    await admin?.close();
    await t?.close();
  });

  it("decisions per second: allowed and denied lines both carry non-zero rates", async () => {
    const rates = await chartSummary(page, "rates");
    expect(rates.points).toBeGreaterThanOrEqual(6);
    expect(rates.sums[0]).toBeGreaterThan(0);
    expect(rates.sums[1]).toBeGreaterThan(0);
    expect(Number(await page.textContent("#total-allowed"))).toBeGreaterThan(4);
  });

  it("top deny reasons: the policy's reason codes with counts", async () => {
    const reasons = await chartSummary(page, "reasons");
    expect(reasons.labels).toEqual(expect.arrayContaining(["missing_key", "forbidden_path", "rate_limited"]));
    expect(reasons.sums[0]).toBeGreaterThan(0);
  });

  it("tenants: requests and tokens used against their limits, in the chart and the table", async () => {
    const tenants = await chartSummary(page, "tenants");
    expect(tenants.labels).toEqual(["acme · requests_per_hour", "acme · tokens_per_hour"]);
    const rows = await page.$$eval("#tenant-table tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    expect(rows).toEqual([
      ["acme", "requests_per_hour", "requests", "2", "2", "3600 s"],
      ["acme", "tokens_per_hour", "tokens", "750", "100000", "3600 s"],
    ]);
    expect(tenants.sums[0]).toBe(100 + 0.75);
  });

  it("shadow disagreements: the candidate's deny→allow and status changes are counted", async () => {
    const shadow = await chartSummary(page, "shadow");
    expect(shadow.labels).toEqual(expect.arrayContaining(["deny_to_allow", "status_changed"]));
    expect(shadow.sums[0]).toBeGreaterThan(0);
  });

  it("policy timeline: the activation is plotted and listed", async () => {
    const timeline = await chartSummary(page, "timeline");
    expect(timeline.points).toBe(1);
    expect(await page.textContent("#timeline-list")).toContain(`activated ${t.app.policy.current()!.revision}`);
    expect(await page.textContent("#revision")).toBe(t.app.policy.current()!.revision);
  });

  it("the page holds no secret: not the admin token (moved out of the URL), nor any client credential", async () => {
    expect(page.url()).toBe(`${admin.url}/dashboard/`);
    const html = await page.content();
    const text = await page.evaluate(() => (globalThis as unknown as { document: { body: { innerText: string } } }).document.body.innerText);
    for (const secret of [TOKEN, ...CLIENT_SECRETS]) {
      expect(html).not.toContain(secret);
      expect(text).not.toContain(secret);
      expect(responses.join("\n")).not.toContain(secret);
    }
    expect(responses.length).toBeGreaterThan(2);
    expect(html).not.toMatch(/Bearer\s/);
  });

  it("no script error or CSP violation, and a screenshot is kept as a test artifact", async () => {
    expect(problems).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, "dashboard.png");
    await page.screenshot({ path: file, fullPage: true });
    expect(existsSync(file)).toBe(true);
  });

  it("without a token the page asks for one instead of showing data", async () => {
    const other = await browser.newPage();
    await other.goto(`${admin.url}/dashboard/`);
    await other.waitForSelector("#login:not([hidden])", { timeout: 10_000 });
    expect(await other.evaluate(() => (globalThis as unknown as { tollgateDashboard: { updates: number } }).tollgateDashboard.updates)).toBe(0);
    await other.fill("#token", TOKEN);
    await other.click("#login button");
    await other.waitForFunction(() => (globalThis as unknown as { tollgateDashboard: { updates: number } }).tollgateDashboard.updates > 0, undefined, { timeout: 10_000 });
    expect(await other.isHidden("#login")).toBe(true);
    await other.close();
  });
});
