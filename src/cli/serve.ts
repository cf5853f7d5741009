import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { startApp } from "../app.js";
import { runPrimary } from "../cluster/primary.js";
import { WorkerLink } from "../cluster/worker-link.js";
import { createLogger } from "../observability/logger.js";
import { addSettingFlags, loadSettings } from "./settings-flags.js";

export function registerServe(program: Command): void {
  addSettingFlags(program.command("serve").description("start the gRPC server (ext_authz v3, rate limit v3, health, reflection)"))
    .action(async (flags: Record<string, unknown>) => {
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
