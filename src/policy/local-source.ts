import path from "node:path";
import type { Logger } from "../observability/logger.js";
import { TollgateError } from "../errors.js";
import { ReloadLoop } from "../watch/reload-loop.js";
import type { PolicyActivator } from "./activate.js";
import { buildPolicies } from "./build.js";
import { startOpaSpawner } from "./opa-cli.js";
import type { PolicyOrigin } from "./origin.js";
import type { Revision } from "./registry.js";
import type { PolicySource } from "./source.js";

export interface LocalPolicySourceOptions {
  dir: string;
  entrypoint: string;
  runTests: boolean;
  activator: PolicyActivator;
  logger: Logger;
  watch: boolean;
  debounceMs?: number;
}

/**
 * A policies folder as a revision source: builds it with opa (tests included) into a BuiltPolicy
 * for the activator. Watches the folder and rebuilds on change; a failed rebuild is recorded with
 * OPA's message and the registry keeps serving what it had.
 */
export class LocalPolicySource implements PolicySource {
  private readonly loop: ReloadLoop;
  private readonly opts: LocalPolicySourceOptions;
  readonly origin: PolicyOrigin;

  constructor(opts: LocalPolicySourceOptions) {
    this.opts = opts;
    this.origin = { kind: "folder", path: path.resolve(opts.dir) };
    this.loop = new ReloadLoop({
      path: this.origin.path,
      run: () => this.load().catch(() => undefined),
      logger: opts.logger,
      errorEvent: "policy_watch_error",
      // awaitWriteFinish already waits for the file to settle; the debounce only groups saves.
      debounceMs: opts.debounceMs ?? 50,
      watchOptions: {
        ignored: (p) => path.basename(p).startsWith(".") || /~$|\.swp$/.test(p),
        awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 },
      },
    });
  }

  /**
   * Builds the folder; a build failure is recorded and serving goes on (fail closed: until a good
   * edit lands there may be no revision at all). A config_error (e.g. no opa binary) is thrown.
   */
  async start(): Promise<void> {
    // Forked now, while this process is small: every build after this one spawns opa from it.
    startOpaSpawner();
    try {
      await this.load();
    } catch (err) {
      if (err instanceof TollgateError && err.code === "config_error") throw err;
    }
    if (this.opts.watch) await this.loop.start();
  }

  /** Builds and activates the folder's current content. Rejects, changing nothing, on any error. */
  async load(): Promise<Revision> {
    const started = performance.now();
    const rev = await this.opts.activator.activate(this.origin, () => buildPolicies({ dir: this.opts.dir, entrypoint: this.opts.entrypoint, runTests: this.opts.runTests, background: true }));
    this.opts.logger.debug({ event: "policy_built", revision: rev.revision, build_ms: Math.round(performance.now() - started) }, "policy built");
    return rev;
  }

  settled(): Promise<void> {
    return this.loop.settled();
  }

  close(): Promise<void> {
    return this.loop.close();
  }
}
