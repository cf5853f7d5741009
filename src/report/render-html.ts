import type { ComplianceReport, ItemStatus } from "./types.js";

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (v: unknown): string => String(v ?? "").replace(/[&<>"']/g, (c) => ESC[c]!);

const badge = (s: ItemStatus) => `<span class="badge ${s}">${s.toUpperCase()}</span>`;

function table(head: string[], rows: unknown[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${escapeHtml(empty)}</p>`;
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${typeof c === "object" && c !== null && "html" in c ? (c as { html: string }).html : escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

const counts = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:2rem auto;max-width:1100px;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:2px solid #d0d7de;padding-bottom:.2rem}
.meta{color:#57606a}table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr{break-inside:avoid}.badge{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:.75rem;font-weight:700;color:#fff}
.pass{background:#1a7f37}.fail{background:#cf222e}.warn{background:#9a6700}.info{background:#57606a}.unknown{background:#8250df}
.alert{border:3px solid #cf222e;background:#ffebe9;padding:.75rem;font-weight:600}.empty{color:#57606a;font-style:italic}
td.num{text-align:right}td:first-child{white-space:nowrap}code{font-size:.85em;word-break:break-all}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}.badge{-webkit-print-color-adjust:exact;print-color-adjust:exact}@page{size:A4;margin:14mm}}
`;

/** A standalone, printable page: no scripts, no external resources. */
export function renderHtml(r: ComplianceReport): string {
  const a = r.audit;
  const tamper = a.chain === "tampered"
    ? `<p class="alert" id="tamper-alert">The audit trail FAILED verification at line ${escapeHtml(a.brokenAt?.line)}: ${escapeHtml(a.brokenAt?.reason)}. The policy change history below is not evidence.</p>`
    : "";
  const changes = table(
    ["#", "Time (UTC)", "Action", "Revision", "Previous", "Source", "Key id", "Tests", "Operator", "Reason", "Chain"],
    a.records.map((x) => [x.seq, x.ts, x.action, x.revision ?? "", x.previousRevision ?? "", x.source, x.keyId ?? "", x.tests ? (x.tests.ran ? (x.tests.passed !== undefined ? `ran: ${x.tests.passed} passed, ${x.tests.failed ?? 0} failed` : "ran") : "not run") : "", x.operator ?? "", x.reason ?? "", x.verified ? "verified" : { html: badge("fail") + " unverified" }]),
    a.chain === "missing" ? "No audit trail available." : "No policy change recorded in the period.",
  );
  const d = r.decisions;
  const decisions = d
    ? `<p>Since ${escapeHtml(d.since)} (process start): <strong>${d.totals.allowed}</strong> allowed, <strong>${d.totals.denied}</strong> denied, <strong>${d.totals.errors}</strong> errors.</p>
<h3>Denials and errors by reason</h3>${table(["Reason", "Count"], counts(d.totals.byReason), "No denial or error.")}
<h3>By tenant</h3>${d.byTenant ? table(["Tenant", "Result", "Count"], Object.entries(d.byTenant).sort(([x], [y]) => x.localeCompare(y)).flatMap(([t, res]) => counts(res).map(([k, v]) => [t, k, v])), "No tenant traffic.") : `<p class="empty">No per-tenant metric is exported.</p>`}`
    : `<p class="empty">Not available: built without a running tollgate.</p>`;
  const rl = r.rateLimits;
  const rateLimits = rl
    ? `${table(["ShouldRateLimit result", "Calls"], counts(rl.calls), "No ShouldRateLimit call.")}
${table(["Over limit, by domain", "Count"], counts(rl.overLimitByDomain), "No request over limit.")}
${table(["Failure mode used", "Decisions"], counts(rl.failureModeUsed), "No decision taken by a failure mode.")}
<p>Limit store errors: <strong>${rl.storeErrors}</strong></p>`
    : `<p class="empty">Not available: built without a running tollgate.</p>`;
  const c = r.config;
  const config = c
    ? table(["Setting", "Value"], [
        ["gRPC TLS", c.grpcTls.enabled ? `on (${c.grpcTls.subject ?? ""}, until ${c.grpcTls.notAfter ?? "?"})` : "off"],
        ["Client certificate required (mTLS)", c.grpcTls.clientCertRequired ? "yes" : "no"],
        ["Admin address", c.adminAddr],
        ["Admin HTTPS", c.adminTls ? "on" : "off"],
        ["Admin bearer token required", c.adminTokenRequired ? "yes" : "no"],
        ["Masking self-test", `${c.masking.selfTest.passed ? "passed" : "FAILED"} at ${c.masking.selfTest.ranAt}: ${c.masking.selfTest.sentinelCount} sentinels, ${c.masking.selfTest.leaks.length} found`],
        ["Decision input in console logs (--log-decision-input)", c.masking.settings.logDecisionInput ? "on" : "off"],
        ["Body text kept, masked (--log-decision-body)", c.masking.settings.logDecisionBody ? "on" : "off"],
        ["Decision-log upload (--decision-log-url)", c.masking.settings.decisionLogUpload ? "on" : "off"],
        ["Policy mask rules (data.system.log.mask)", c.masking.settings.policyMaskRules ? "defined" : "none"],
        ["Prompt-guard patterns masked", String(c.masking.settings.guardPatterns)],
        ["Bundle signature verification", c.bundleSignatureVerification ? "on" : "off"],
        ["Dry run", c.dryRun ? "on" : "off"],
        ["On decision error", c.failModes.decisionError],
        ["Limits when the store is down (default)", c.failModes.limitStoreDefault],
        ["Limit store", `${c.limitStore.kind} (${c.limitStore.state})`],
        ["Active policy revision", c.activeRevision ?? "none"],
      ], "")
    : `<p class="empty">Not available: built without a running tollgate.</p>`;
  const controls = r.controls
    .map((ctl) => `<h3>${badge(ctl.status)} ${escapeHtml(ctl.title)}</h3><p class="meta">${escapeHtml(ctl.summary)}</p>
${table(["Id", "Item", "Status", "Evidence", "Source"], r.items.filter((i) => i.control === ctl.id).map((i) => [i.id, i.title, { html: badge(i.status) }, i.evidence, i.source]), "No evidence for this control.")}`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(r.title)} ${escapeHtml(r.window.from.slice(0, 10))} – ${escapeHtml(r.window.to.slice(0, 10))}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(r.title)}</h1>
<p class="meta">Period ${escapeHtml(r.window.from)} to ${escapeHtml(r.window.to)} · generated ${escapeHtml(r.generatedAt)}</p>
${tamper}
<section id="summary"><h2>Summary by control</h2>
${table(["Control", "Status", "Items"], r.controls.map((ctl) => [ctl.title, { html: badge(ctl.status) }, ctl.items.join(", ")]), "")}</section>
<section id="controls"><h2>Evidence mapped to controls</h2>
${controls}</section>
<section id="changes"><h2>Policy change history (audit trail)</h2>
<p>File: <code>${escapeHtml(a.file ?? "none")}</code> · chain: <strong>${escapeHtml(a.chain)}</strong> · ${a.recordCount} records in the file${a.head ? ` · head <code>${escapeHtml(a.head)}</code>` : ""}</p>
${changes}</section>
<section id="decisions"><h2>Decision totals</h2>
${decisions}</section>
<section id="rate-limits"><h2>Rate-limit events</h2>
${rateLimits}</section>
<section id="configuration"><h2>Security configuration</h2>
${config}</section>
<section id="limitations"><h2>What this report cannot prove</h2>
<ul>${r.limitations.map((l) => `<li>${escapeHtml(l)}</li>`).join("\n")}</ul></section>
</body></html>
`;
}
