import type { Registry } from "prom-client";
import { isLoopbackExempt, splitHostPort } from "../net/host-port.js";
import type { AdminStatus } from "../status/context.js";
import { decisionTotals, metricSamples, rateLimitTotals } from "../observability/metric-values.js";
import { auditEvidence } from "./audit-evidence.js";
import type { ConfigEvidence, DecisionEvidence, ReportInputs } from "./types.js";

/** Per-tenant Check counter (labels tenant, result), read when the app registers it. */
export const TENANT_METRIC = "tollgate_tenant_checks_total";

export interface AdminFacts {
  addr: string;
  tls: boolean;
  tokenRequired: boolean;
}

export function configEvidence(status: AdminStatus, admin: AdminFacts): ConfigEvidence {
  const cert = status.security.grpcTls.certificate;
  return {
    grpcTls: {
      enabled: status.security.grpcTls.enabled,
      clientCertRequired: status.security.grpcTls.clientCertRequired,
      ...(cert ? { subject: cert.subject, notAfter: cert.notAfter } : {}),
    },
    adminTls: admin.tls,
    adminTokenRequired: admin.tokenRequired,
    adminAddr: admin.addr,
    adminLoopbackOnly: isLoopbackExempt(splitHostPort(admin.addr).host),
    masking: status.security.masking,
    bundleSignatureVerification: status.security.bundleSignatureVerification,
    dryRun: status.security.dryRun,
    failModes: status.failModes,
    limitStore: { kind: status.limitStore.kind, state: status.limitStore.state },
    ...(status.policy.activeRevision ? { activeRevision: status.policy.activeRevision } : {}),
  };
}

async function decisionEvidence(registry: Registry, since: string): Promise<DecisionEvidence> {
  const totals = await decisionTotals(registry);
  if (!registry.getSingleMetric(TENANT_METRIC)) return { since, totals };
  const byTenant: Record<string, Record<string, number>> = {};
  for (const s of await metricSamples(registry, TENANT_METRIC)) {
    const tenant = s.labels["tenant"];
    const result = s.labels["result"] ?? "total";
    if (tenant === undefined) continue;
    const row = (byTenant[tenant] ??= {});
    row[result] = (row[result] ?? 0) + s.value;
  }
  return { since, totals, byTenant };
}

/** Gathers report evidence from a running tollgate: its metrics registry, its status and the audit file. */
export async function collectReportInputs(opts: {
  registry: Registry;
  status: AdminStatus;
  admin: AdminFacts;
  auditFile: string | undefined;
  window: { from: string; to: string };
  now?: Date;
}): Promise<ReportInputs> {
  const [decisions, rateLimits] = await Promise.all([decisionEvidence(opts.registry, opts.status.startedAt), rateLimitTotals(opts.registry)]);
  return {
    generatedAt: (opts.now ?? new Date()).toISOString(),
    window: opts.window,
    audit: auditEvidence(opts.auditFile, opts.window),
    decisions,
    rateLimits,
    config: configEvidence(opts.status, opts.admin),
  };
}

/** Evidence from the audit file alone, for `tollgate report` without a running server. */
export function offlineReportInputs(opts: { auditFile: string | undefined; window: { from: string; to: string }; now?: Date }): ReportInputs {
  return { generatedAt: (opts.now ?? new Date()).toISOString(), window: opts.window, audit: auditEvidence(opts.auditFile, opts.window) };
}
