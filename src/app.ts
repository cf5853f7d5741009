import { Authorizer } from "./authz/check.js";
import { SecretResolver } from "./authz/secrets.js";
import type { Settings } from "./config/settings.js";
import { TollgateError } from "./errors.js";
import type { LimitStore } from "./limits/types.js";
import { createLogger, type Logger } from "./observability/logger.js";
import type { HostBuiltins } from "./policy/engine.js";
import { LocalPolicySource } from "./policy/local-source.js";
import { createHostBuiltins } from "./policy/wasm/host-builtins.js";
import { AUTHZ_SERVICE, GrpcServer } from "./server/grpc-server.js";
import { createLimitStore } from "./limits/create-store.js";

export interface App {
  grpcPort: number;
  logger: Logger;
  policy: LocalPolicySource;
  store: LimitStore;
  close(): Promise<void>;
}

export interface AppDeps {
  logger?: Logger;
  hostBuiltins?: () => HostBuiltins;
}

/** Composition root: settings → dependencies → start. close() drains and releases everything. */
export async function startApp(settings: Settings, deps: AppDeps = {}): Promise<App> {
  const logger = deps.logger ?? createLogger({ level: settings.logLevel });
  const store = createLimitStore(settings, logger);
  const policy = new LocalPolicySource({
    dir: settings.policies,
    entrypoint: settings.decisionPath,
    runTests: settings.runPolicyTests,
    hostBuiltins: deps.hostBuiltins ?? createHostBuiltins,
    logger,
    onActivate: () => server.setServing(AUTHZ_SERVICE, true),
  });
  const authorizer = new Authorizer({
    policy: () => policy.current(),
    logger,
    limits: settings.limits,
    skipBodyParse: settings.skipRequestBodyParse,
    dryRun: settings.dryRun,
    onDecisionError: settings.onDecisionError,
    logDecisionInput: settings.logDecisionInput,
    store,
    secrets: new SecretResolver(),
    rateLimitHeaders: settings.rateLimitHeaders ? undefined : false,
  });
  const server = new GrpcServer({
    addr: settings.grpcAddr,
    maxMessageBytes: settings.limits.maxMessageBytes,
    logger,
    check: (req) => authorizer.check(req),
  });

  try {
    await policy.load();
  } catch (err) {
    const e = TollgateError.from(err, "policy_build_error");
    if (e.code === "config_error") throw e;
    // Fail closed but stay up: Check answers UNAVAILABLE and health says NOT_SERVING until a good edit lands.
    logger.error({ event: "policy_rejected", code: e.code, error: e.message }, "initial policy build failed; not serving until it is fixed");
  }
  if (settings.watch) policy.watch();
  const grpcPort = await server.start();
  server.setServing("", true);
  logger.info({ event: "listening", grpc_addr: settings.grpcAddr, grpc_port: grpcPort, store: store.kind, revision: policy.current()?.revision }, "tollgate listening");

  return {
    grpcPort,
    logger,
    policy,
    store,
    async close() {
      await server.drain(settings.shutdownGraceMs);
      await policy.close();
      await store.close();
    },
  };
}
