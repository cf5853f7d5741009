import { watch, type FSWatcher } from "chokidar";
import path from "node:path";
import type { Logger } from "../observability/logger.js";
import { TollgateError } from "../errors.js";
import { buildPolicies } from "./build.js";
import type { HostBuiltins, PolicyEngine } from "./engine.js";
import { WasmPolicyEngine } from "./wasm/wasm-engine.js";

export interface LocalPolicySourceOptions {
  dir: string;
  entrypoint: string;
  runTests: boolean;
  hostBuiltins: () => HostBuiltins;
  logger: Logger;
  debounceMs?: number;
  onActivate?: (engine: PolicyEngine) => void;
  onReject?: (error: TollgateError) => void;
}

/**
 * Serves the policies folder: builds it, runs its tests, and swaps the new revision in with one
 * reference assignment. Evaluation is synchronous, so no request can see a half-swapped state.
 * A failed rebuild leaves the last good revision serving.
 */
export class LocalPolicySource {
  private engine: PolicyEngine | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private building: Promise<void> | undefined;
  private dirty = false;
  private readonly opts: LocalPolicySourceOptions;

  constructor(opts: LocalPolicySourceOptions) {
    this.opts = opts;
  }

  current(): PolicyEngine | undefined {
    return this.engine;
  }

  /** Builds and activates the folder's current content. Rejects, leaving the active revision alone, on any error. */
  async load(): Promise<PolicyEngine> {
    const started = performance.now();
    const built = await buildPolicies({ dir: this.opts.dir, entrypoint: this.opts.entrypoint, runTests: this.opts.runTests });
    const engine = new WasmPolicyEngine(built, this.opts.hostBuiltins());
    const previous = this.engine?.revision;
    this.engine = engine;
    this.opts.logger.info(
      { event: "policy_activated", revision: engine.revision, previous_revision: previous, tests_run: built.testsRun, build_ms: Math.round(performance.now() - started) },
      "policy activated",
    );
    this.opts.onActivate?.(engine);
    return engine;
  }

  /** Reloads on every change under the folder, debounced; rebuilds never overlap. Resolves once the watcher is ready. */
  async watch(): Promise<void> {
    if (this.watcher) return;
    this.watcher = watch(path.resolve(this.opts.dir), {
      ignoreInitial: true,
      ignored: (p) => path.basename(p).startsWith(".") || /~$|\.swp$/.test(p),
      awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 },
    });
    this.watcher.on("all", () => this.schedule());
    this.watcher.on("error", (err) => this.opts.logger.warn({ event: "policy_watch_error", err }, "policy watcher error"));
    const watcher = this.watcher;
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  }

  /** Waits for any rebuild in progress (tests use this to observe a reload deterministically). */
  async settled(): Promise<void> {
    while (this.timer || this.building) {
      if (this.building) await this.building;
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.watcher?.close();
    this.watcher = undefined;
    if (this.building) await this.building;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.rebuild();
    }, this.opts.debounceMs ?? 150);
  }

  private rebuild(): void {
    if (this.building) {
      this.dirty = true;
      return;
    }
    this.building = this.load()
      .then(() => undefined)
      .catch((err: unknown) => {
        const e = TollgateError.from(err, "policy_build_error");
        this.opts.onReject?.(e);
        this.opts.logger.error(
          { event: "policy_rejected", code: e.code, error: e.message, serving_revision: this.engine?.revision },
          "policy update rejected; last good revision keeps serving",
        );
      })
      .finally(() => {
        this.building = undefined;
        if (this.dirty) {
          this.dirty = false;
          this.rebuild();
        }
      });
  }
}
