// tollgate live dashboard: polls /v1/dashboard every 2 s and redraws with Chart.js (served from node_modules).
// Plain browser script, no build step. Data is written with textContent only, never as HTML.
/* global Chart */
"use strict";

(function () {
  const POLL_MS = 2000;
  const TOKEN_KEY = "tollgate-admin-token";
  const COLORS = { allowed: "#1a7f37", denied: "#cf222e", errors: "#6e7781", requests: "#0969da", tokens: "#8250df" };
  const EVENTS = ["activated", "rejected", "rolled_back", "promoted"];
  const EVENT_COLORS = { activated: "#1a7f37", rejected: "#cf222e", rolled_back: "#9a6700", promoted: "#0969da" };
  const $ = (id) => document.getElementById(id);

  // A token passed as #token=… is moved to sessionStorage and removed from the address bar.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem(TOKEN_KEY, hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }

  const time = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const dateTime = (ms) => new Date(ms).toLocaleString([], { hour12: false });
  const common = { responsive: true, maintainAspectRatio: false, animation: false };
  let timelineSpanMs = 0;

  const charts = {
    rates: new Chart($("rates"), {
      type: "line",
      // Denied is dashed so it stays visible where it runs on top of allowed.
      data: { labels: [], datasets: ["allowed", "denied", "errors"].map((k) => ({ label: k, data: [], borderColor: COLORS[k], backgroundColor: COLORS[k], pointRadius: 0, borderWidth: 2, borderDash: k === "allowed" ? [] : [6, 4], tension: 0.2 })) },
      options: { ...common, interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true, title: { display: true, text: "per second" } }, x: { ticks: { maxTicksLimit: 10 } } } },
    }),
    reasons: new Chart($("reasons"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "denials and errors", data: [], backgroundColor: COLORS.denied }] },
      options: { ...common, indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    }),
    shadow: new Chart($("shadow"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "disagreements", data: [], backgroundColor: "#9a6700" }] },
      options: { ...common, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }),
    tenants: new Chart($("tenants"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "% of limit used", data: [], backgroundColor: [] }] },
      options: {
        ...common, indexAxis: "y", plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => `${c.raw.toFixed(1)}% (${c.chart.$usage[c.dataIndex]})` } } },
        scales: { x: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: "% of limit used" } } },
      },
    }),
    llmTenants: new Chart($("llm-tenants"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "reserved", data: [], backgroundColor: "#afb8c1" }, { label: "actual", data: [], backgroundColor: COLORS.tokens }] },
      options: { ...common, indexAxis: "y", scales: { x: { beginAtZero: true, title: { display: true, text: "tokens" } } } },
    }),
    timeline: new Chart($("timeline"), {
      type: "scatter",
      data: { datasets: [{ label: "policy events", data: [], pointRadius: 6, pointBackgroundColor: [] }] },
      options: {
        ...common, plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => `${EVENTS[c.raw.y]} ${c.raw.revision || ""} ${dateTime(c.raw.x)}` } } },
        scales: {
          x: { type: "linear", ticks: { callback: (v) => (timelineSpanMs > 86_400_000 ? dateTime(v) : time(v)), maxTicksLimit: 8 } },
          y: { min: -0.5, max: EVENTS.length - 0.5, afterBuildTicks: (axis) => (axis.ticks = EVENTS.map((_, i) => ({ value: i }))), ticks: { callback: (v) => EVENTS[v] ?? "" } },
        },
      },
    }),
  };
  charts.tenants.$usage = [];

  const state = { updates: 0, lastError: null, charts };
  window.tollgateDashboard = state;

  function text(id, value) {
    $(id).textContent = value === undefined || value === null || value === "" ? "–" : String(value);
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const [value, numeric] of cells) {
      const td = document.createElement("td");
      td.textContent = String(value);
      if (numeric) td.className = "num";
      tr.appendChild(td);
    }
    return tr;
  }

  function render(d) {
    const pill = $("ready");
    pill.textContent = d.ready ? "ready" : "not ready";
    pill.className = `pill ${d.ready ? "ok" : "bad"}`;
    text("revision", d.activeRevision);
    text("candidate", d.candidateRevision);
    text("store", `${d.limitStore.kind} (${d.limitStore.state})`);
    text("updated", `updated ${time(Date.parse(d.generatedAt))}`);
    text("total-allowed", d.totals.allowed);
    text("total-denied", d.totals.denied);
    text("total-errors", d.totals.errors);
    text("total-over", Object.values(d.rateLimits.overLimitByDomain).reduce((a, b) => a + b, 0));

    const r = charts.rates;
    r.data.labels = d.rates.map((p) => time(p.t));
    ["allowed", "denied", "errors"].forEach((k, i) => (r.data.datasets[i].data = d.rates.map((p) => p[k])));
    r.update();

    charts.reasons.data.labels = d.topDenyReasons.map((x) => x.reason);
    charts.reasons.data.datasets[0].data = d.topDenyReasons.map((x) => x.count);
    charts.reasons.update();

    const shadow = Object.entries(d.shadowDisagreements).sort((a, b) => b[1] - a[1]);
    charts.shadow.data.labels = shadow.length ? shadow.map(([k]) => k) : ["none"];
    charts.shadow.data.datasets[0].data = shadow.length ? shadow.map(([, v]) => v) : [0];
    charts.shadow.update();

    const limits = d.tenants.flatMap((t) => t.limits.map((l) => ({ tenant: t.tenant, ...l })));
    const tc = charts.tenants;
    tc.data.labels = limits.map((l) => `${l.tenant} · ${l.name}`);
    tc.data.datasets[0].data = limits.map((l) => (l.limit > 0 ? (100 * l.used) / l.limit : 100));
    tc.data.datasets[0].backgroundColor = limits.map((l) => (l.used >= l.limit ? COLORS.denied : COLORS[l.unit] || COLORS.requests));
    tc.$usage = limits.map((l) => `${l.used} / ${l.limit} ${l.unit}`);
    tc.update();
    const body = document.querySelector("#tenant-table tbody");
    body.replaceChildren(...limits.map((l) => row([[l.tenant], [l.name], [l.unit], [l.used, true], [l.limit, true], [`${l.windowSeconds} s`, true]])));

    renderLlmUsage(d.llmUsage);

    const events = d.timeline.filter((e) => EVENTS.includes(e.event));
    const tl = charts.timeline;
    tl.data.datasets[0].data = events.map((e) => ({ x: Date.parse(e.at), y: EVENTS.indexOf(e.event), revision: e.revision }));
    tl.data.datasets[0].pointBackgroundColor = events.map((e) => EVENT_COLORS[e.event]);
    // At least the last hour, up to now, so one event does not stretch the axis over arbitrary days.
    const now = Date.parse(d.generatedAt);
    const first = Math.min(now - 3_600_000, ...tl.data.datasets[0].data.map((p) => p.x));
    timelineSpanMs = now - first;
    tl.options.scales.x.min = first - timelineSpanMs * 0.02;
    tl.options.scales.x.max = now + timelineSpanMs * 0.02;
    tl.update();
    $("timeline-list").replaceChildren(
      ...events.slice(0, 20).map((e) => {
        const li = document.createElement("li");
        li.className = `ev-${e.event}`;
        const who = e.operator ? ` by ${e.operator}` : "";
        const why = e.reason ? ` – ${e.reason}` : "";
        li.textContent = `${dateTime(Date.parse(e.at))} ${e.event} ${e.revision || ""}${e.previousRevision ? ` (was ${e.previousRevision})` : ""}${who}${why}`;
        return li;
      }),
    );
  }

  function renderLlmUsage(u) {
    const sum = (rows, k) => rows.reduce((n, r) => n + r[k], 0);
    text("llm-scope", u.scope === "all_workers" ? "all workers" : "this process");
    text("llm-reserved", sum(u.tenants, "reserved"));
    text("llm-actual", sum(u.tenants, "actual"));
    text("llm-refunded", sum(u.tenants, "refunded"));
    text("llm-overcharged", sum(u.tenants, "overcharged"));
    text("llm-stopped", sum(u.tenants, "streamsStopped"));
    text("llm-failures", Object.values(u.reconcileFailures).reduce((a, b) => a + b, 0));
    const c = charts.llmTenants;
    c.data.labels = u.tenants.map((t) => t.tenant);
    c.data.datasets[0].data = u.tenants.map((t) => t.reserved);
    c.data.datasets[1].data = u.tenants.map((t) => t.actual);
    c.update();
    const responses = (t) => Object.values(t.responses).reduce((a, b) => a + b, 0);
    document.querySelector("#llm-tenant-table tbody").replaceChildren(
      ...u.tenants.map((t) => row([[t.tenant], [responses(t), true], [t.reserved, true], [t.actual, true], [t.refunded, true], [t.overcharged, true], [t.streamsStopped, true], [t.reconcileFailures, true]])),
    );
    document.querySelector("#llm-provider-table tbody").replaceChildren(
      ...u.providers.map((p) => row([[p.provider], [p.reserved, true], [p.actual, true], [p.estimated, true], [p.refunded, true], [p.overcharged, true], [p.streamsStopped, true]])),
    );
  }

  let timer;
  async function poll() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    try {
      const res = await fetch("/v1/dashboard", { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: "no-store" });
      if (res.status === 401) {
        $("login").hidden = false;
        $("login-error").textContent = token ? "token refused" : "";
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      $("login").hidden = true;
      render(await res.json());
      state.updates += 1;
      state.lastError = null;
    } catch (err) {
      state.lastError = String(err);
      $("ready").textContent = "unreachable";
      $("ready").className = "pill bad";
    }
    timer = setTimeout(poll, POLL_MS);
  }

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    clearTimeout(timer);
    void poll();
  });

  void poll();
})();
