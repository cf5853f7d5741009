import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { startApp } from "../app.js";
import { runPrimary } from "../cluster/primary.js";
import { WorkerLink } from "../cluster/worker-link.js";
import { createLogger } from "../observability/logger.js";
import { loadSettings, type CliFlags } from "./settings-flags.js";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("start the gRPC server (ext_authz v3, rate limit v3, health, reflection)")
    .option("--config <file>", "YAML settings file")
    .option("--grpc-addr <host:port>", "gRPC listen address (default 127.0.0.1:9191)")
    .option("--http-addr <host:port>", "admin HTTP listen address (default 127.0.0.1:8181)")
    .option("--policies <dir>", "policies folder (default ./policies)")
    .option("--decision-path <path>", "decision rule path (default envoy/authz/allow)")
    .option("--dry-run", "log denials but allow every request")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent")
    .option("--redis-url <url>", "Redis for counters; without it an in-memory store is used")
    .option("--ratelimit-config <dir>", "folder of envoyproxy/ratelimit YAML files")
    .option("--skip-request-body-parse", "do not parse request bodies into input.parsed_body")
    .option("--on-decision-error <mode>", "error (gRPC error) | deny (403)")
    .option("--log-decision-input", "log the masked input and result with each decision")
    .option("--log-decision-body", "keep body text (masked) in logged and uploaded decision inputs; removed by default")
    .option("--audit-file <file>", "append-only, hash-chained audit trail of policy changes")
    .option("--candidate-policies <dir>", "candidate policies evaluated in shadow beside the active ones")
    .option("--shadow-sample-rate <0..1>", "share of requests the candidate also evaluates (default 1)")
    .option("--admin-token-file <file>", "bearer token for the admin API (required off loopback); or TOLLGATE_ADMIN_TOKEN")
    .option("--no-admin", "do not start the admin HTTP server")
    .option("--grpc-tls-cert <file>", "serve gRPC over TLS with this certificate (reloaded on change)")
    .option("--grpc-tls-key <file>", "private key for --grpc-tls-cert")
    .option("--grpc-tls-client-ca <file>", "require client certificates signed by this CA (mTLS)")
    .option("--http-tls-cert <file>", "serve the admin API over HTTPS with this certificate")
    .option("--http-tls-key <file>", "private key for --http-tls-cert")
    .option("--decision-log-url <url>", "OPA-compatible decision-log service (events POSTed to <url>/logs)")
    .option("--decision-log-token-file <file>", "bearer token for the decision-log service")
    .option("--bundle-url <url>", "poll an OPA bundle server instead of reading --policies")
    .option("--bundle-file <file>", "serve an OPA bundle file (watched) instead of --policies")
    .option("--bundle-token-file <file>", "bearer token for the bundle server")
    .option("--bundle-verification-key <file>", "require bundles signed for this public key (PEM) or HMAC secret")
    .option("--bundle-state-dir <dir>", "keep the last activated bundle here, for restarts while the server is down")
    .option("--workers <n|auto>", "serve from n processes on the same ports (auto: one per core; default 1)")
    .option("--no-watch", "do not reload policies on change")
    .option("--no-policy-tests", "skip opa test before activating a policy")
    .action(async (flags: CliFlags) => {
      const settings = loadSettings(flags);
      const workers = settings.workers === "auto" ? availableParallelism() : settings.workers;
      if (workers > 1 && cluster.isPrimary) {
        const code = await runPrimary({ workers, logger: createLogger({ level: settings.logLevel }), shutdownGraceMs: settings.shutdownGraceMs });
        process.exit(code);
      }
      const app = await startApp(settings, WorkerLink.inWorker() ? { workerLink: new WorkerLink() } : {});
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        app.logger.info({ event: "shutdown", signal }, "draining in-flight calls");
        app.close().then(
          () => process.exit(0),
          (err: unknown) => {
            app.logger.error({ event: "shutdown_error", err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      // A stray rejection is a bug to log, not a reason to drop every in-flight call.
      process.on("unhandledRejection", (reason) => app.logger.error({ event: "unhandled_rejection", err: reason }, "unhandled promise rejection"));
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    });
}
