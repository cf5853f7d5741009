import { CONTROL_IDS, CONTROLS, type ComplianceReport, type ControlSummary, type ItemStatus, type ReportInputs, type ReportItem } from "./types.js";

const EXPIRY_WARN_DAYS = 14;
const RANK: Record<ItemStatus, number> = { fail: 4, warn: 3, unknown: 2, pass: 1, info: 0 };

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ") || "none";

function auditItems(inputs: ReportInputs): ReportItem[] {
  const a = inputs.audit;
  const items: ReportItem[] = [];
  const chain: Record<typeof a.chain, [ItemStatus, string]> = {
    verified: ["pass", `The hash chain of all ${plural(a.recordCount, "record")} verifies; head ${a.head ?? ""}.`],
    empty: ["warn", "The audit file exists but holds no records: no policy change was recorded."],
    missing: ["unknown", a.file ? `The audit file ${a.file} does not exist.` : "No audit file was given, so policy changes cannot be evidenced."],
    tampered: ["fail", `TAMPERED: the hash chain breaks at line ${a.brokenAt?.line ?? "?"} (${a.brokenAt?.reason ?? ""}). Records from there on cannot be trusted.`],
  };
  const [status, evidence] = chain[a.chain];
  items.push({ id: "CM-1", control: "change_management", title: "Audit trail integrity", status, evidence, source: "audit trail" });

  const by: Record<string, number> = {};
  for (const r of a.records) by[r.action] = (by[r.action] ?? 0) + 1;
  items.push({
    id: "CM-2", control: "change_management", title: "Policy changes in the period", status: a.chain === "missing" ? "unknown" : "info",
    evidence: `${plural(a.records.length, "recorded change")} between ${inputs.window.from} and ${inputs.window.to} (${list(by)}).`, source: "audit trail",
  });

  const activations = a.records.filter((r) => r.action === "activation");
  const untested = activations.filter((r) => !r.tests?.ran || (r.tests.failed ?? 0) > 0);
  items.push({
    id: "CM-3", control: "change_management", title: "Revisions tested before activation",
    status: activations.length === 0 ? (a.chain === "missing" ? "unknown" : "info") : untested.length === 0 ? "pass" : "warn",
    evidence: activations.length === 0 ? "No activation in the period." : `${activations.length - untested.length} of ${plural(activations.length, "activation")} ran policy tests with no failure${untested.length ? `; without: ${untested.map((r) => `#${r.seq}`).join(", ")}` : ""}.`,
    source: "audit trail",
  });

  const manual = a.records.filter((r) => r.action === "rollback" || r.action === "promotion");
  const anonymous = manual.filter((r) => !r.operator);
  items.push({
    id: "LP-1", control: "least_privilege", title: "Manual changes attributed to an operator",
    status: manual.length === 0 ? (a.chain === "missing" ? "unknown" : "info") : anonymous.length === 0 ? "pass" : "warn",
    evidence: manual.length === 0 ? "No rollback or promotion in the period." : `Operator named on ${manual.length - anonymous.length} of ${plural(manual.length, "rollback/promotion")}${anonymous.length ? `; unnamed: ${anonymous.map((r) => `#${r.seq}`).join(", ")}` : ""}.`,
    source: "audit trail",
  });
  return items;
}

function configItems(inputs: ReportInputs): ReportItem[] {
  const c = inputs.config;
  if (!c) {
    return [{ id: "CFG-0", control: "encryption_in_transit", title: "Running configuration", status: "unknown", evidence: "Not available: the report was built without a running tollgate.", source: "configuration" }];
  }
  const items: ReportItem[] = [];
  const now = Date.parse(inputs.generatedAt);
  let tls = c.grpcTls.enabled ? `gRPC port serves TLS with ${c.grpcTls.subject ?? "a certificate"}, valid until ${c.grpcTls.notAfter ?? "?"}.` : "The gRPC port is plaintext: decisions and request data cross the network unencrypted.";
  let tlsStatus: ItemStatus = c.grpcTls.enabled ? "pass" : "fail";
  if (c.grpcTls.enabled && c.grpcTls.notAfter && Date.parse(c.grpcTls.notAfter) - now < EXPIRY_WARN_DAYS * 86_400_000) {
    tlsStatus = "warn";
    tls += ` It expires within ${EXPIRY_WARN_DAYS} days.`;
  }
  items.push({ id: "ET-1", control: "encryption_in_transit", title: "TLS on the gRPC port", status: tlsStatus, evidence: tls, source: "configuration" });
  items.push({
    id: "ET-2", control: "encryption_in_transit", title: "Client certificates verified (mTLS)", status: c.grpcTls.clientCertRequired ? "pass" : "warn",
    evidence: c.grpcTls.clientCertRequired ? "Callers must present a certificate that chains to the configured CA bundle." : "Callers are not authenticated by certificate.", source: "configuration",
  });
  items.push({
    id: "ET-3", control: "encryption_in_transit", title: "HTTPS on the admin port", status: c.adminTls ? "pass" : c.adminLoopbackOnly ? "info" : "fail",
    evidence: c.adminTls ? `The admin API on ${c.adminAddr} serves HTTPS.` : c.adminLoopbackOnly ? `The admin API on ${c.adminAddr} is plain HTTP, reachable from this host only.` : `The admin API on ${c.adminAddr} is plain HTTP on a network address: its bearer token crosses the network unencrypted.`,
    source: "configuration",
  });
  items.push({
    id: "LP-2", control: "least_privilege", title: "Admin API access", status: c.adminTokenRequired ? "pass" : "info",
    evidence: c.adminTokenRequired ? "Every admin call except health probes needs the bearer token." : `No token: the admin API listens on ${c.adminAddr} (this host only) and refuses state-changing calls.`, source: "configuration",
  });
  items.push({
    id: "LP-3", control: "least_privilege", title: "Policy decisions enforced", status: c.dryRun ? "fail" : "pass",
    evidence: c.dryRun ? "Dry run is on: denials are logged but every request is allowed." : `Denials are enforced; active revision ${c.activeRevision ?? "none"}.`, source: "configuration",
  });
  items.push({
    id: "CM-4", control: "change_management", title: "Bundle signature verification", status: c.bundleSignatureVerification ? "pass" : "warn",
    evidence: c.bundleSignatureVerification ? "Bundles must carry a valid signature to activate." : "Signature verification is off: an unsigned policy can activate.", source: "configuration",
  });
  items.push(maskingItem(c));
  items.push({
    id: "AP-1", control: "abuse_prevention", title: "Failure modes", status: "info",
    evidence: `Undecidable Check: ${c.failModes.decisionError === "deny" ? "answered 403" : "answered with a gRPC error (Envoy's failure_mode_allow decides)"}; limits when the ${c.limitStore.kind} store is down: ${c.failModes.limitStoreDefault} unless a limit says otherwise; store now ${c.limitStore.state}.`,
    source: "configuration",
  });
  return items;
}

const onOff = (b: boolean) => (b ? "on" : "off");

/** LM-1 is the self-test's verdict on the running configuration, never a setting taken on trust. */
function maskingItem(c: NonNullable<ReportInputs["config"]>): ReportItem {
  const { settings: s, selfTest: t } = c.masking;
  const read = `Settings read from the running process: --log-decision-input ${onOff(s.logDecisionInput)}, --log-decision-body ${onOff(s.logDecisionBody)}, decision-log upload ${onOff(s.decisionLogUpload)}, data.system.log.mask ${s.policyMaskRules ? "defined" : "not defined"}${s.revision ? ` in revision ${s.revision}` : ""}, ${plural(s.guardPatterns, "prompt-guard pattern")}.`;
  const ran = `Self-test at ${t.ranAt}: ${t.sentinelCount} fresh sentinels (${t.kinds.join(", ")}) in ${t.fields.join(", ")}, through ${t.outputs.join(", ")}`;
  const withheld = t.withheld.length ? ` ${t.withheld.join(", ")} withheld the input (mask policy failed closed).` : "";
  if (t.passed) return { id: "LM-1", control: "logging_monitoring", title: "Secrets masked in every copy", status: "pass", evidence: `${ran}: none found.${withheld} ${read}`, source: "self-test" };
  const found = t.leaks.slice(0, 20).map((l) => `${l.sentinel} in ${l.output}`).join("; ");
  return { id: "LM-1", control: "logging_monitoring", title: "Secrets masked in every copy", status: "fail", evidence: `${ran}: ${plural(t.leaks.length, "sentinel")} found (${found}${t.leaks.length > 20 ? "; …" : ""}).${withheld} ${read}`, source: "self-test" };
}

function metricItems(inputs: ReportInputs): ReportItem[] {
  const d = inputs.decisions;
  const rl = inputs.rateLimits;
  if (!d || !rl) {
    return [{ id: "LM-0", control: "logging_monitoring", title: "Decision and rate-limit totals", status: "unknown", evidence: "Not available: the report was built without a running tollgate.", source: "metrics" }];
  }
  const t = d.totals;
  const items: ReportItem[] = [
    {
      id: "LM-2", control: "logging_monitoring", title: "Decisions counted", status: "info",
      evidence: `Since ${d.since}: ${t.allowed} allowed, ${t.denied} denied, ${t.errors} errors. Denials and errors by reason: ${list(t.byReason)}.`, source: "metrics",
    },
    {
      id: "LM-3", control: "logging_monitoring", title: "Decisions by tenant", status: d.byTenant ? "info" : "unknown",
      evidence: d.byTenant ? Object.entries(d.byTenant).sort(([a], [b]) => a.localeCompare(b)).map(([tenant, r]) => `${tenant} (${list(r)})`).join("; ") || "No tenant traffic." : "No per-tenant metric is exported, so totals by tenant cannot be shown.",
      source: "metrics",
    },
    {
      id: "AP-2", control: "abuse_prevention", title: "Rate-limit events", status: "info",
      evidence: `ShouldRateLimit calls: ${list(rl.calls)}. Over limit by domain: ${list(rl.overLimitByDomain)}.`, source: "metrics",
    },
  ];
  const failOpen = rl.failureModeUsed["allow"] ?? 0;
  items.push({
    id: "AP-3", control: "abuse_prevention", title: "Limit store outages", status: failOpen > 0 ? "warn" : rl.storeErrors > 0 ? "info" : "pass",
    evidence: `${plural(rl.storeErrors, "store error")}; decisions taken by a failure mode: ${list(rl.failureModeUsed)}${failOpen > 0 ? ` (${failOpen} let through unlimited)` : ""}.`, source: "metrics",
  });
  return items;
}

function limitations(inputs: ReportInputs): string[] {
  const out = [
    "This report does not see Envoy. It cannot prove that every request went through tollgate: routes without ext_authz, or Envoy's failure_mode_allow during an outage, bypass it.",
    "The configuration section describes this tollgate process when the report was generated, not during the whole period.",
    "Operator names are what the caller declared alongside the shared admin token; they are not individually authenticated identities.",
    "The audit hash chain shows that no record was edited, inserted or reordered. It cannot show that records were cut from the end or that the whole file was replaced: compare the head hash with a copy kept elsewhere.",
  ];
  if (inputs.decisions) {
    out.push(`Decision and rate-limit totals are counters of this one process since ${inputs.decisions.since}. They are not limited to the report period, reset on restart and do not include other replicas.`);
  } else {
    out.push("No decision or rate-limit totals: the report was built from the audit file alone.");
  }
  if (inputs.audit.chain === "tampered") out.push("The audit trail failed verification, so the change history in this report is not evidence.");
  return out;
}

/** Maps the evidence to controls. Pure: the same inputs always give the same report. */
export function buildReport(inputs: ReportInputs): ComplianceReport {
  const items = [...auditItems(inputs), ...configItems(inputs), ...metricItems(inputs)].sort((a, b) => CONTROL_IDS.indexOf(a.control) - CONTROL_IDS.indexOf(b.control) || a.id.localeCompare(b.id));
  const controls: ControlSummary[] = CONTROL_IDS.map((id) => {
    const mine = items.filter((i) => i.control === id);
    const worst = mine.reduce<ItemStatus>((s, i) => (RANK[i.status] > RANK[s] ? i.status : s), "info");
    return { id, title: CONTROLS[id].title, summary: CONTROLS[id].summary, status: worst, items: mine.map((i) => i.id) };
  });
  return { title: "tollgate compliance report", ...inputs, controls, items, limitations: limitations(inputs) };
}
