import { appAdminContext, carryOutPolicyCommand } from "./admin/app-context.js";
import type { AdminContext } from "./status/context.js";
import { AdminServer } from "./admin/server.js";
import { AggregatorRegistry } from "prom-client";
import { AuditTrail } from "./audit/index.js";
import { UsageTracker } from "./authz/usage.js";
import { DEFAULT_LOCAL_TOKEN_DIR, readTokenFile, type Settings } from "./config/settings.js";
import { DecisionLogSink, decisionLogEvent } from "./decision-log/index.js";
import { ExtProcMetrics } from "./extproc/metrics.js";
import { ExtProcService } from "./extproc/service.js";
import type { WorkerLink } from "./cluster/worker-link.js";
import { createLimitStore } from "./limits/create-store.js";
import { instrumentStore } from "./limits/instrumented-store.js";
import { loadReservationKey } from "./limits/reservation-key.js";
import type { LimitStore } from "./limits/types.js";
import { guardHits } from "./llm/guard.js";
import { modelRoles } from "./llm/model-globs.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { Metrics } from "./observability/metrics.js";
import { createBundleSource } from "./policy/bundle-source.js";
import type { HostBuiltins, PolicyEngine } from "./policy/engine.js";
import { PolicyActivator } from "./policy/activate.js";
import { LocalPolicySource } from "./policy/local-source.js";
import type { PolicySource } from "./policy/source.js";
import { PolicyRegistry } from "./policy/registry.js";
import { ShadowStats } from "./authz/shadow.js";
import { createHostBuiltins } from "./policy/wasm/builtins/index.js";
import { loadConfigFromSources } from "./ratelimit/config/load.js";
import { RateLimitConfigWatcher } from "./ratelimit/config/watch.js";
import { RateLimitService } from "./ratelimit/service.js";
import { buildPipeline } from "./pipeline.js";
import { AUTHZ_SERVICE, createHealth, EXTPROC_SERVICE, GrpcServer, RLS_SERVICE } from "./server/grpc-server.js";
import { createGrpcTls } from "./tls/certificates.js";

export interface App {
  grpcPort: number;
  /** The admin HTTP server's port, when it runs. */
  adminPort: number | undefined;
  logger: Logger;
  policy: PolicyRegistry;
  /** Where the active revisions come from: the policies folder, or the bundle file or server when one is configured. */
  policySource: PolicySource;
  store: LimitStore;
  /** Signs and verifies reservation handles (Check writes them, ext_proc reads them). */
  reservationKey: Uint8Array;
  rateLimits: RateLimitService;
  metrics: Metrics;
  shadowStats: ShadowStats;
  /** What the admin server reads: status (with the masking self-test), history, usage, rollback, promote. */
  adminContext: AdminContext;
  close(): Promise<void>;
}

export interface AppDeps {
  logger?: Logger;
  metrics?: Metrics;
  hostBuiltins?: () => HostBuiltins;
  /** Set in a worker of `--workers`: revisions go to the primary, status and metrics cover every worker. */
  workerLink?: WorkerLink;
}

/** Close functions of everything started, run newest first, by close() and by a start that failed half-way. */
class CloseStack {
  private readonly closers: (() => unknown)[] = [];

  constructor(private readonly logger: Logger) {}

  push(close: () => unknown): void {
    this.closers.push(close);
  }

  async closeAll(): Promise<void> {
    for (let close = this.closers.pop(); close; close = this.closers.pop()) {
      try {
        await close();
      } catch (err) {
        this.logger.error({ event: "close_failed", err }, "a resource failed to close; closing the rest");
      }
    }
  }
}

/** Open ext_proc streams per process (one per HTTP response in flight); more are refused and pass unchanged. */
const EXTPROC_MAX_STREAMS = 10_000;

/** Composition root: settings → dependencies → start. close() drains and releases everything. */
export async function startApp(settings: Settings, deps: AppDeps = {}): Promise<App> {
  const logger = deps.logger ?? createLogger({ level: settings.logLevel });
  const stack = new CloseStack(logger);
  try {
    return await start(settings, deps, logger, stack);
  } catch (err) {
    await stack.closeAll();
    throw err;
  }
}

async function start(settings: Settings, deps: AppDeps, logger: Logger, stack: CloseStack): Promise<App> {
  const metrics = deps.metrics ?? new Metrics({ tenantLabels: settings.metricsTenantLabels });
  if (deps.workerLink) {
    // The primary's AggregatorRegistry asks each worker for these registries' metrics; a worker
    // answers only once it has constructed one itself (that adds prom-client's listener).
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metrics.registry]);
  }
  const health = createHealth();
  const rawStore = createLimitStore(settings, logger);
  const store = instrumentStore(rawStore, metrics);
  stack.push(() => store.close());

  const policy = new PolicyRegistry({
    logger,
    ...(settings.auditFile ? { audit: AuditTrail.open(settings.auditFile) } : {}),
    onActivate: (rev) => {
      metrics.policyActivated(rev.revision);
      deps.workerLink?.reportRevision(rev.revision);
      health.setStatus(AUTHZ_SERVICE, "SERVING");
    },
    onReject: () => metrics.activations.inc({ result: "rejected" }),
  });
  deps.workerLink?.onCommand((command) => carryOutPolicyCommand(policy, command));
  metrics.wasmMemorySource = () => policy.current()?.memoryBytes?.();
  const hostBuiltins = deps.hostBuiltins ?? (() => createHostBuiltins());
  const prepare = (engine: PolicyEngine): void => {
    guardHits(engine, ["warm-up"]);
    modelRoles(engine, "warm-up");
  };
  const activator = new PolicyActivator({ registry: policy, hostBuiltins, logger, prepare });
  const policySource: PolicySource =
    settings.bundleUrl || settings.bundleFile
      ? createBundleSource({ settings, activator, logger })
      : new LocalPolicySource({ dir: settings.policies, entrypoint: settings.decisionPath, runTests: settings.runPolicyTests, activator, logger, watch: settings.watch });
  const candidateFolder = settings.candidatePolicies
    ? new LocalPolicySource({
        dir: settings.candidatePolicies,
        entrypoint: settings.decisionPath,
        runTests: settings.runPolicyTests,
        activator: new PolicyActivator({ registry: policy, hostBuiltins, logger, role: "candidate", prepare }),
        logger,
        watch: settings.watch,
      })
    : undefined;

  const decisionLogs = settings.decisionLogUrl
    ? new DecisionLogSink({
        url: settings.decisionLogUrl,
        ...(settings.decisionLogTokenFile ? { bearerToken: readTokenFile(settings.decisionLogTokenFile, "decisionLogTokenFile") } : {}),
        mask: (event) => policy.current()?.evaluateLogMask?.(event),
        drop: (event) => policy.current()?.evaluateLogDrop?.(event),
        logBody: settings.logDecisionBody,
        policyData: () => policy.current()?.data,
        logger,
      })
    : undefined;
  if (decisionLogs) stack.push(() => decisionLogs.close());

  const usage = new UsageTracker();
  const shadowStats = new ShadowStats({ onKind: (kind) => metrics.shadowDisagreements.inc({ kind }) });
  const sharedKey = deps.workerLink !== undefined && settings.reservationKeyFile === undefined;
  if (sharedKey) logger.warn({ event: "reservation_key_random" }, "reservationKeyFile is not set: the workers share one random key of this primary; with more than one machine, give them all the same reservationKeyFile");
  const reservationKey = sharedKey ? await deps.workerLink!.reservationKey() : loadReservationKey(settings.reservationKeyFile, logger);
  const pipeline = buildPipeline(settings, {
    policy: () => policy.current(),
    logger,
    store,
    reservationKey,
    metrics,
    shadow: { candidate: () => policy.candidate(), sampleRate: settings.shadowSampleRate, stats: shadowStats },
    usage,
    ...(decisionLogs
      ? {
          decisionLog: ({ decisionId, revision, input, result, handlerNs }) =>
            void decisionLogs.enqueue(decisionLogEvent({ decisionId, path: settings.decisionPath, revision, input, result, handlerNs })),
        }
      : {}),
  });

  // Without a config folder every domain is unknown, which envoyproxy/ratelimit answers OK.
  const ratelimitConfig = settings.ratelimitConfig ? await RateLimitConfigWatcher.start({ dir: settings.ratelimitConfig, logger }) : undefined;
  if (ratelimitConfig) stack.push(() => ratelimitConfig.close());
  const emptyConfig = loadConfigFromSources([]);
  const currentRateLimitConfig = () => ratelimitConfig?.current() ?? emptyConfig;
  const rateLimits = new RateLimitService({
    config: currentRateLimitConfig,
    store,
    logger,
    stopIncrementWhenOver: settings.ratelimitStopIncrementWhenOver,
    onFailureMode: (mode) => metrics.failureModeUsed.inc({ mode }),
    headers: { enabled: settings.rateLimitHeaders, names: settings.rateLimitHeaderNames },
  });
  const shouldRateLimit: typeof rateLimits.shouldRateLimit = async (req) => {
    const res = await rateLimits.shouldRateLimit(req);
    const code = res.overallCode === 2 ? "OVER_LIMIT" : "OK";
    metrics.rateLimitCalls.inc({ code });
    // Only configured domains become labels; a client cannot grow the label set.
    if (code === "OVER_LIMIT") metrics.overLimit.inc({ domain: currentRateLimitConfig().domains.has(req.domain) ? req.domain : "unknown" });
    return res;
  };

  const grpcTls =
    settings.grpcTlsCertFile && settings.grpcTlsKeyFile
      ? await createGrpcTls({
          files: { certFile: settings.grpcTlsCertFile, keyFile: settings.grpcTlsKeyFile, ...(settings.grpcTlsClientCaFile ? { caFile: settings.grpcTlsClientCaFile } : {}) },
          logger,
          pollMs: settings.tlsReloadMs,
        })
      : undefined;
  if (grpcTls) stack.push(() => grpcTls.close());

  // Fail closed but stay up: without a good revision Check answers UNAVAILABLE and health says NOT_SERVING until one lands.
  stack.push(() => policySource.close());
  await policySource.start();
  if (candidateFolder) {
    stack.push(() => candidateFolder.close());
    await candidateFolder.start();
  }

  // Reconciles what Check reserved against what the response used (docs/ext-proc.md). Closed after
  // the server drained (the stack runs newest first), so reconciles in flight finish before the store closes.
  const extProc = new ExtProcService({
    reservationKey,
    store,
    logger,
    metrics: new ExtProcMetrics(metrics.registry),
    maxStreams: EXTPROC_MAX_STREAMS,
    ...(decisionLogs ? { decisionLog: (event) => void decisionLogs.enqueue(event) } : {}),
  });
  stack.push(() => extProc.close());
  const server = new GrpcServer({
    addr: settings.grpcAddr,
    ...(grpcTls ? { credentials: grpcTls.credentials } : {}),
    maxMessageBytes: settings.limits.maxMessageBytes,
    logger,
    metrics,
    health,
    check: (req) => pipeline.check(req),
    shouldRateLimit,
    process: extProc.process,
  });
  const grpcPort = await server.start();
  let draining = false;
  stack.push(() => server.drain(draining ? settings.shutdownGraceMs : 0));

  const adminContext = appAdminContext({
    settings, policy, policyOrigin: policySource.origin, store: rawStore, usage: () => usage.snapshot(), grpcTls: () => grpcTls?.watcher.info(), decisionLogs,
    ...(deps.workerLink ? { workers: () => deps.workerLink!.workers(), broadcast: (command) => deps.workerLink!.broadcast(command) } : {}),
  });
  const admin = settings.adminDisabled
    ? undefined
    : await AdminServer.start({
        addr: settings.httpAddr,
        token: settings.adminToken ?? (settings.adminTokenFile ? readTokenFile(settings.adminTokenFile, "adminTokenFile") : undefined),
        localTokenDir: settings.adminLocalTokenDir ?? DEFAULT_LOCAL_TOKEN_DIR,
        ...(settings.httpTlsCertFile && settings.httpTlsKeyFile ? { tls: { certFile: settings.httpTlsCertFile, keyFile: settings.httpTlsKeyFile, pollMs: settings.tlsReloadMs } } : {}),
        context: adminContext,
        registry: metrics.registry,
        ...(deps.workerLink ? { allMetrics: () => deps.workerLink!.metrics() } : {}),
        logger,
        auditFile: settings.auditFile,
      });
  if (admin) stack.push(() => admin.close());

  server.setServing("", true);
  server.setServing(RLS_SERVICE, true);
  server.setServing(EXTPROC_SERVICE, true);
  logger.info({ event: "listening", grpc_addr: settings.grpcAddr, grpc_port: grpcPort, admin_port: admin?.port, grpc_tls: grpcTls !== undefined, store: store.kind, revision: policy.current()?.revision }, "tollgate listening");

  return {
    grpcPort,
    adminPort: admin?.port,
    logger,
    policy,
    policySource,
    store,
    reservationKey,
    rateLimits,
    metrics,
    shadowStats,
    adminContext,
    close() {
      // A started app drains in-flight calls for the grace period; a failed start closes at once.
      draining = true;
      return stack.closeAll();
    },
  };
}
