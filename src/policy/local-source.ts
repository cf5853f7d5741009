import path from "node:path";
import type { Logger } from "../observability/logger.js";
import { TollgateError } from "../errors.js";
import { buildPolicies } from "./build.js";
import type { HostBuiltins } from "./engine.js";
import type { PolicyRegistry, Revision } from "./registry.js";
import { WasmPolicyEngine } from "./wasm/wasm-engine.js";
import { ReloadLoop } from "../watch/reload-loop.js";

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
  private readonly loop: ReloadLoop;
  private readonly opts: LocalPolicySourceOptions;
  readonly source: string;

  constructor(opts: LocalPolicySourceOptions) {
    this.opts = opts;
    this.source = `dir:${path.resolve(opts.dir)}`;
    this.loop = new ReloadLoop({
      path: path.resolve(opts.dir),
      run: () => this.load().catch((err: unknown) => void this.rejected(err)),
      logger: opts.logger,
      errorEvent: "policy_watch_error",
      debounceMs: opts.debounceMs ?? 150,
      watchOptions: {
        ignored: (p) => path.basename(p).startsWith(".") || /~$|\.swp$/.test(p),
        awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 },
      },
    });
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
  watch(): Promise<void> {
    return this.loop.start();
  }

  /** Waits for any rebuild in progress (tests use this to observe a reload deterministically). */
  settled(): Promise<void> {
    return this.loop.settled();
  }

  close(): Promise<void> {
    return this.loop.close();
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
}
