import type { BuiltPolicy } from "../bundle/built-policy.js";
import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { HostBuiltins } from "./engine.js";
import { describeOrigin, type PolicyOrigin } from "./origin.js";
import type { PolicyRegistry, Revision } from "./registry.js";
import { preloadData } from "./preload-data.js";
import { compilePolicy, MEMORY_PAGES, WasmPolicyEngine } from "./wasm/wasm-engine.js";

export interface PolicyActivatorOptions {
  registry: PolicyRegistry;
  hostBuiltins: () => HostBuiltins;
  logger: Logger;
  /** "active" activates each good revision; "candidate" loads it for shadow evaluation only. */
  role?: "active" | "candidate";
}

/**
 * The one way a revision goes live, whatever its source: build or read it, load its WASM, hand
 * it to the registry. Any failure along the way is recorded as a rejection (audit trail, metric,
 * one policy_rejected log line) and the registry keeps serving what it had.
 */
export class PolicyActivator {
  private readonly o: PolicyActivatorOptions;

  constructor(options: PolicyActivatorOptions) {
    this.o = options;
  }

  /** Builds with `build`, then activates. `revision` names what was attempted, for the record of a rejection. */
  async activate(origin: PolicyOrigin, build: () => BuiltPolicy | Promise<BuiltPolicy>, revision?: string): Promise<Revision> {
    let rev: Revision;
    try {
      const built = await build();
      // Compiled and its data loaded off the event loop; on it run instantiation and the copy of
      // the loaded memory, a slice per turn. Should the loader thread fail, the data is loaded
      // here instead (and a data problem then fails here, as it always did).
      const module = await compilePolicy(built);
      const engine = new WasmPolicyEngine(built, this.o.hostBuiltins(), module, { data: "later" });
      const preloaded = await preloadData(module, built.data, MEMORY_PAGES).catch((err: unknown) => {
        this.o.logger.warn({ event: "policy_data_preload_failed", error: TollgateError.from(err).message }, "policy data loaded on the main thread");
        return undefined;
      });
      if (preloaded) await engine.adopt(preloaded);
      else engine.loadData();
      rev = { revision: built.revision, origin, engine, keyId: built.keyId, testsRun: built.testsRun, testsPassed: built.testsPassed };
    } catch (err) {
      throw this.reject(origin, err, revision);
    }
    if (this.o.role === "candidate") {
      this.o.registry.setCandidate(rev);
      return rev;
    }
    return this.o.registry.activate(rev);
  }

  /** Records a revision that could not be built or read; returns the error for the caller to throw or log. */
  reject(origin: PolicyOrigin, err: unknown, revision?: string): TollgateError {
    const e = TollgateError.from(err, "policy_build_error");
    this.o.registry.reject(origin, e, revision || undefined);
    this.o.logger.error(
      { event: "policy_rejected", code: e.code, error: e.message, source: describeOrigin(origin), role: this.o.role ?? "active", serving_revision: this.o.registry.current()?.revision },
      "policy update rejected; last good revision keeps serving",
    );
    return e;
  }
}
