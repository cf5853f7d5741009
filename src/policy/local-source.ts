import { watch, type FSWatcher } from "chokidar";
import path from "node:path";
import type { Logger } from "../observability/logger.js";
import { TollgateError } from "../errors.js";
import { buildPolicies } from "./build.js";
import type { HostBuiltins } from "./engine.js";
import type { PolicyRegistry, Revision } from "./registry.js";
import { WasmPolicyEngine } from "./wasm/wasm-engine.js";

export interface LocalPolicySourceOptions {
  dir: string;
  entrypoint: string;
  runTests: boolean;
  hostBuiltins: () => HostBuiltins;
  logger: Logger;
  registry: PolicyRegistry;
  /** "active" activates each good build; "candidate" loads it for shadow evaluation only. */
  role?: "active" | "candidate";
  debounceMs?: number;
}

/**
 * A policies folder as a revision source: builds it with opa, runs its tests, loads the WASM and
 * hands the revision to the registry. Watches the folder and rebuilds on change; a failed
 * rebuild is logged with OPA's message and the registry keeps serving what it had.
 */
export class LocalPolicySource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private building: Promise<void> | undefined;
  private dirty = false;
  private readonly opts: LocalPolicySourceOptions;
  readonly source: string;

  constructor(opts: LocalPolicySourceOptions) {
    this.opts = opts;
    this.source = `dir:${path.resolve(opts.dir)}`;
  }

  /** Builds and hands over the folder's current content. Rejects, changing nothing, on any error. */
  async load(): Promise<Revision> {
    const started = performance.now();
    const built = await buildPolicies({ dir: this.opts.dir, entrypoint: this.opts.entrypoint, runTests: this.opts.runTests });
    const rev: Revision = { revision: built.revision, source: this.source, engine: new WasmPolicyEngine(built, this.opts.hostBuiltins()), testsRun: built.testsRun };
    if (this.opts.role === "candidate") this.opts.registry.setCandidate(rev);
    else this.opts.registry.activate(rev);
    this.opts.logger.debug({ event: "policy_built", revision: rev.revision, build_ms: Math.round(performance.now() - started) }, "policy built");
    return rev;
  }

  /** Reloads on every change under the folder, debounced; rebuilds never overlap. Resolves once the watcher is ready. */
  async watch(): Promise<void> {
    if (this.watcher) return;
    const watcher = watch(path.resolve(this.opts.dir), {
      ignoreInitial: true,
      ignored: (p) => path.basename(p).startsWith(".") || /~$|\.swp$/.test(p),
      awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 },
    });
    this.watcher = watcher;
    watcher.on("all", () => this.schedule());
    watcher.on("error", (err) => this.opts.logger.warn({ event: "policy_watch_error", err }, "policy watcher error"));
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

  /** Logs and records a failed build; the registry keeps its current revision. */
  rejected(err: unknown): TollgateError {
    const e = TollgateError.from(err, "policy_build_error");
    this.opts.registry.reject(this.source, e);
    this.opts.logger.error(
      { event: "policy_rejected", code: e.code, error: e.message, source: this.source, serving_revision: this.opts.registry.current()?.revision },
      "policy update rejected; last good revision keeps serving",
    );
    return e;
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
      .catch((err: unknown) => void this.rejected(err))
      .finally(() => {
        this.building = undefined;
        if (this.dirty) {
          this.dirty = false;
          this.rebuild();
        }
      });
  }
}
