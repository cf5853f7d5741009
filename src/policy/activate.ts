import { setImmediate as nextTurn } from "node:timers/promises";
import type { BuiltPolicy } from "../bundle/built-policy.js";
import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { HostBuiltins, PolicyEngine } from "./engine.js";
import { describeOrigin, type PolicyOrigin } from "./origin.js";
import type { PolicyRegistry, Revision } from "./registry.js";
import { preloadData, WARM_INPUT } from "./preload-data.js";
import { forLoader, recordingBuiltins, type BuiltinCall, type RecordedCall } from "./recorded-builtins.js";
import { compilePolicy, MEMORY_PAGES, WasmPolicyEngine } from "./wasm/wasm-engine.js";

export interface PolicyActivatorOptions {
  registry: PolicyRegistry;
  hostBuiltins: () => HostBuiltins;
  logger: Logger;
  /** "active" activates each good revision; "candidate" loads it for shadow evaluation only. */
  role?: "active" | "candidate";
  /**
   * Per-revision work the first Check would otherwise do, run on a loaded engine before it goes
   * live (compiling the revision's prompt-guard patterns and model globs: src/app.ts).
   */
  prepare?: (engine: PolicyEngine) => void;
}

/** Longest sampled input (JSON characters) a revision is warmed with. */
const WARM_INPUT_MAX_CHARS = 64 * 1024;

/**
 * The one way a revision goes live, whatever its source: build or read it, load its WASM, hand
 * it to the registry. Any failure along the way is recorded as a rejection (audit trail, metric,
 * one policy_rejected log line) and the registry keeps serving what it had.
 */
export class PolicyActivator {
  private readonly o: PolicyActivatorOptions;
  /** The newest input a revision loaded here evaluated: what the next revision is warmed with. */
  private sample: unknown;
  /** The host built-ins' answers in that evaluation, for the loader thread to give again. */
  private sampleCalls: readonly RecordedCall[] = [];

  constructor(options: PolicyActivatorOptions) {
    this.o = options;
  }

  /** Builds with `build`, then activates. `revision` names what was attempted, for the record of a rejection. */
  async activate(origin: PolicyOrigin, build: () => BuiltPolicy | Promise<BuiltPolicy>, revision?: string): Promise<Revision> {
    let rev: Revision;
    try {
      const built = await build();
      const engine = await this.load(built);
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

  /**
   * A revision's engine, compiled, instantiated with its data and warmed off the event loop
   * (src/policy/preload-data.ts): on it run only the instantiation of the compiled module and the
   * copy of the loaded memory, a slice per turn. Should the loader thread fail, the policy is
   * compiled and its data loaded here instead (and a problem with either then fails here, as it
   * always did).
   */
  private async load(built: BuiltPolicy): Promise<WasmPolicyEngine> {
    const warm = this.warmInput();
    const preloaded = await preloadData(built.wasm, built.data, MEMORY_PAGES, warm.input, warm.calls).catch((err: unknown) => {
      this.o.logger.warn({ event: "policy_data_preload_failed", error: TollgateError.from(err).message }, "policy data loaded on the main thread");
      return undefined;
    });
    const host = recordingBuiltins(this.o.hostBuiltins());
    let engine: WasmPolicyEngine;
    if (preloaded?.module) {
      engine = new WasmPolicyEngine(built, host, preloaded.module, { data: "later" });
      await engine.adopt(preloaded);
    } else {
      engine = new WasmPolicyEngine(built, host, await compilePolicy(built), { data: "later" });
      engine.loadData();
    }
    await this.warm(engine);
    // Remember the newest input it evaluates (one reference, no copy) and the built-ins' answers,
    // to warm its successor with.
    const evaluate = engine.evaluate.bind(engine);
    engine.evaluate = (input: unknown) => {
      this.sample = input;
      try {
        return evaluate(input);
      } finally {
        this.sampleCalls = host.calls();
      }
    };
    return engine;
  }

  /**
   * What the loader thread cannot do for this thread, each in a turn of its own before the swap
   * rather than all in the first Check after it: the revision's own compilations (`prepare`) and a
   * first evaluation here, of the sample whole; then the same input pruned to what the policy reads
   * (src/policy/input-paths.ts) must answer alike. None of it may fail the revision: an input the
   * new policy cannot evaluate is a Check's problem, not a load's.
   */
  private async warm(engine: WasmPolicyEngine): Promise<void> {
    await nextTurn();
    try {
      this.o.prepare?.(engine);
    } catch {
      // The Checks compile it again and answer for it.
    }
    // The first evaluation here is the sample whole; the next, pruned, is compared with it.
    await nextTurn();
    let whole: string;
    try {
      whole = engine.evaluateWhole(this.sample ?? WARM_INPUT);
    } catch {
      return; // As above; with no answer to compare with, the input stays pruned, as the paths say.
    }
    await nextTurn();
    try {
      if (engine.checkInputPruning(this.sample ?? WARM_INPUT, whole) === "turned_off") {
        this.o.logger.warn({ event: "input_pruning_off", revision: engine.revision }, "the decision answered differently on the pruned input; this revision evaluates the whole input");
      }
    } catch {
      // As above: the input stays pruned, as the paths say.
    }
  }

  /**
   * The JSON text of the newest input evaluated, with the host built-ins' answers to it, or a
   * typical input before any: real traffic's path through the policy is what the warm-up should
   * compile. It stays in this process (the loader is a thread of it); a very large one (a big
   * request body) is replaced by the typical one.
   */
  private warmInput(): { input: string; calls?: BuiltinCall[] } {
    let text: string | undefined;
    try {
      text = this.sample === undefined ? undefined : JSON.stringify(this.sample);
    } catch {
      text = undefined;
    }
    if (text === undefined || text.length > WARM_INPUT_MAX_CHARS) return { input: JSON.stringify(WARM_INPUT) };
    return { input: text, calls: forLoader(this.sampleCalls, WARM_INPUT_MAX_CHARS) };
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
