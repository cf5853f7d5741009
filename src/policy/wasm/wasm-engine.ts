import { createRequire } from "node:module";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { LoadedPolicy } from "@open-policy-agent/opa-wasm";
import { TollgateError } from "../../errors.js";
import { pruneInput, type InputPaths } from "../input-paths.js";
import type { BuiltPolicy } from "../../bundle/built-policy.js";
import type { HostBuiltins, PolicyEngine } from "../engine.js";

// The SDK's ESM entry exports only the async loader; the CommonJS one has loadPolicySync.
const opa = createRequire(import.meta.url)("@open-policy-agent/opa-wasm") as typeof import("@open-policy-agent/opa-wasm");

/**
 * A compiled WebAssembly.Module. Typed opaquely: without the DOM lib the WebAssembly namespace is
 * declared only by some @types/node versions, so naming it breaks a fresh install's build.
 */
export type CompiledPolicy = object;
type PolicySource = Parameters<typeof opa.loadPolicySync>[0];

const wasmApi = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<CompiledPolicy> } }).WebAssembly;

const PAGE_LIMIT = 4096; // 256 MiB of linear memory per policy instance
const PAGE_BYTES = 65_536;
/** Bytes of preloaded memory copied per turn of the event loop (about a millisecond). */
const ADOPT_SLICE = 1024 * 1024;
/** Linear memory per instance, in 64 KiB pages: initial and most. */
export const MEMORY_PAGES = { initial: 16, maximum: PAGE_LIMIT } as const;

/**
 * A policy's linear memory with its data already loaded, made by another instance of the same
 * compiled module (src/policy/preload-data.ts): the bytes up to the end of the data, the page
 * count they came from, and opa-wasm's pointers.
 */
export interface PreloadedData {
  memory: ArrayBuffer;
  pages: number;
  baseHeapPtr: number;
  dataAddr: number;
  dataHeapPtr: number;
}

/** The exports of OPA's Wasm ABI (1.0 and later) that evaluation calls directly. */
interface OpaExports {
  opa_malloc(size: number): number;
  opa_json_parse(addr: number, len: number): number;
  opa_json_dump(valueAddr: number): number;
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(addr: number): void;
  opa_eval_ctx_new(): number;
  opa_eval_ctx_set_input(ctx: number, valueAddr: number): void;
  opa_eval_ctx_set_data(ctx: number, valueAddr: number): void;
  opa_eval_ctx_set_entrypoint(ctx: number, entrypoint: number): void;
  eval(ctx: number): number;
  opa_eval_ctx_get_result(ctx: number): number;
}

const EVAL_EXPORTS = [
  "opa_malloc", "opa_json_parse", "opa_json_dump", "opa_heap_ptr_get", "opa_heap_ptr_set", "opa_eval_ctx_new",
  "opa_eval_ctx_set_input", "opa_eval_ctx_set_data", "opa_eval_ctx_set_entrypoint", "eval", "opa_eval_ctx_get_result",
] as const;

/**
 * Evaluation heap kept between evaluations, in bytes, before it is reset to the end of the data.
 * Resetting the heap (opa_heap_ptr_set, which opa_eval does on every call) also empties the Wasm's
 * built-in caches: the RE2 programs regex.match and glob.match compile, and glob.match's glob → RE2
 * translations, so a policy matching N globs compiled N regular expressions per evaluation. An
 * evaluation takes some tens of KiB of heap, so the caches now live for a few dozen evaluations.
 */
export const EVAL_HEAP_WINDOW = 1024 * 1024;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function evalError(err: unknown): TollgateError {
  const detail = typeof err === "object" && err !== null && "message" in err ? String((err as { message: unknown }).message) : String(err);
  return new TollgateError("policy_eval_error", `policy evaluation failed: ${detail}`, { cause: err });
}

/**
 * Compiles the policy's WebAssembly off the event loop (V8 compiles asynchronously on background
 * threads); pass the result as `module` so the engine's constructor only instantiates it.
 */
export async function compilePolicy(built: BuiltPolicy): Promise<CompiledPolicy> {
  try {
    return await wasmApi.compile(built.wasm);
  } catch (err) {
    throw new TollgateError("policy_build_error", `cannot load compiled policy: ${evalError(err).message}`, { cause: err });
  }
}

export class WasmPolicyEngine implements PolicyEngine {
  readonly revision: string;
  readonly data: unknown;
  private readonly policy: LoadedPolicy;
  private readonly entrypoint: string;
  private readonly maskEntrypoint: string | undefined;
  private readonly dropEntrypoint: string | undefined;
  private readonly host: HostBuiltins;
  /** What of a Check's input the decision can read; undefined: all of it. */
  private inputPaths: InputPaths | undefined;
  private readonly entrypointIds: Readonly<Record<string, number>>;
  /** The evaluation exports, when the module has them all; undefined leaves evaluation to opa-wasm. */
  private readonly exports: OpaExports | undefined;
  /** Where the heap was last reset to; undefined forces a reset before the next evaluation (after a failed one). */
  private heapBase: number | undefined;
  /** A view of the linear memory, renewed whenever the memory grows (growing detaches the old buffer). */
  private view = new Uint8Array(0);

  /**
   * With `module` (from compilePolicy) only instantiation runs here; without, the WASM is compiled
   * synchronously. With `data: "later"` the data is not loaded: call adopt() with memory a worker
   * loaded it into (src/policy/preload-data.ts), or loadData(), before the first evaluation.
   */
  constructor(built: BuiltPolicy, host: HostBuiltins, module?: CompiledPolicy, options: { data?: "now" | "later" } = {}) {
    this.revision = built.revision;
    this.data = built.data;
    this.entrypoint = built.entrypoint;
    this.maskEntrypoint = built.maskEntrypoint;
    this.dropEntrypoint = built.dropEntrypoint;
    this.host = host;
    this.inputPaths = built.inputPaths;
    try {
      this.policy = opa.loadPolicySync((module ?? built.wasm) as PolicySource, { ...MEMORY_PAGES }, host.builtins);
      if (options.data !== "later") this.policy.setData(built.data as object);
    } catch (err) {
      throw new TollgateError("policy_build_error", `cannot load compiled policy: ${evalError(err).message}`, { cause: err });
    }
    this.entrypointIds = this.policy.entrypoints as Record<string, number>;
    if (!Object.hasOwn(this.entrypointIds, built.entrypoint)) {
      throw new TollgateError("policy_build_error", `compiled policy has no entrypoint ${built.entrypoint}`);
    }
    const exports = (this.policy.wasmInstance as { exports: Partial<OpaExports> }).exports;
    this.exports = EVAL_EXPORTS.every((name) => typeof exports[name] === "function") ? (exports as OpaExports) : undefined;
  }

  evaluate(input: unknown): unknown {
    return this.evaluateAt(this.entrypoint, this.inputPaths ? pruneInput(input, this.inputPaths) : input);
  }

  /**
   * Evaluates `input` whole (unless its answer is given, from evaluateWhole) and pruned to what the
   * decision can read; should they answer differently (the paths were read wrong), the input stays
   * whole for this revision from now on.
   */
  checkInputPruning(input: unknown, whole?: string): "pruned" | "whole" | "turned_off" {
    if (!this.inputPaths) return "whole";
    if (JSON.stringify(this.evaluate(input)) === (whole ?? this.evaluateWhole(input))) return "pruned";
    this.inputPaths = undefined;
    return "turned_off";
  }

  /** The decision for the whole input, as JSON text: checkInputPruning's first half, for a turn of its own. */
  evaluateWhole(input: unknown): string {
    return JSON.stringify(this.evaluateAt(this.entrypoint, input));
  }

  memoryBytes(): number {
    return this.policy.mem.buffer.byteLength;
  }

  get hasLogMask(): boolean {
    return this.maskEntrypoint !== undefined;
  }

  evaluateLogMask(event: unknown): unknown {
    return this.maskEntrypoint ? this.evaluateAt(this.maskEntrypoint, event) : undefined;
  }

  evaluateLogDrop(event: unknown): unknown {
    return this.dropEntrypoint ? this.evaluateAt(this.dropEntrypoint, event) : undefined;
  }

  private evaluateAt(entrypoint: string, input: unknown): unknown {
    this.host.beginEvaluation();
    try {
      if (!this.exports) return this.policy.evaluate(input, entrypoint);
      return this.evalDirect(this.entrypointIds[entrypoint]!, input);
    } catch (err) {
      throw evalError(err);
    }
  }

  /**
   * What opa-wasm's evaluate does (the input parsed into the heap above the data, an evaluation
   * context, eval, the result dumped as JSON), without its copies: the JSON text is encoded
   * straight into linear memory, and the result's text decoded straight out of it. The heap is
   * reset to the end of the data only when an evaluation failed, the data moved, or more than
   * EVAL_HEAP_WINDOW is in use, so the Wasm's built-in caches (compiled regular expressions)
   * outlive one evaluation. Nothing else carries over: every evaluation gets a new context, and
   * neither the data nor those caches are changed by evaluating.
   */
  private evalDirect(entrypointId: number, input: unknown): unknown {
    const e = this.exports!;
    const base: number = this.policy.dataHeapPtr;
    if (this.heapBase !== base || e.opa_heap_ptr_get() - base > EVAL_HEAP_WINDOW) e.opa_heap_ptr_set(base);
    // Until this evaluation has finished, a failure (an abort inside the Wasm) leaves the heap to be reset.
    this.heapBase = undefined;
    const ctx = e.opa_eval_ctx_new();
    // opa-wasm passes no input for any falsy value; kept so both paths see the same document.
    if (input) e.opa_eval_ctx_set_input(ctx, this.loadInput(e, JSON.stringify(input)));
    e.opa_eval_ctx_set_data(ctx, this.policy.dataAddr);
    e.opa_eval_ctx_set_entrypoint(ctx, entrypointId);
    e.eval(ctx);
    const resultAddr = e.opa_json_dump(e.opa_eval_ctx_get_result(ctx));
    const view = this.memory();
    const end = view.indexOf(0, resultAddr);
    const result: unknown = JSON.parse(fromUtf8.decode(view.subarray(resultAddr, end < 0 ? view.length : end)));
    this.heapBase = base;
    return result;
  }

  /** The input's JSON text, encoded into a heap block, parsed into an OPA value. */
  private loadInput(e: OpaExports, text: string): number {
    // One byte per character first (ASCII, the usual case); the exact size when the text has more.
    let size = text.length;
    let addr = e.opa_malloc(size);
    let written = utf8.encodeInto(text, this.memory().subarray(addr, addr + size));
    if (written.read < text.length) {
      size = Buffer.byteLength(text);
      addr = e.opa_malloc(size);
      written = utf8.encodeInto(text, this.memory().subarray(addr, addr + size));
    }
    const value = e.opa_json_parse(addr, written.written);
    if (value === 0) throw new Error("failed to parse the input");
    return value;
  }

  /** Loads the revision's data on this thread (after `data: "later"`). */
  loadData(): void {
    try {
      this.policy.setData(this.data as object);
    } catch (err) {
      throw new TollgateError("policy_build_error", `cannot load compiled policy: ${evalError(err).message}`, { cause: err });
    }
  }

  /**
   * Takes over memory another instance of this module filled with the data (after `data: "later"`).
   * Copied a slice per turn of the event loop: the engine serves nothing yet, and a large data.json
   * makes tens of MiB.
   */
  async adopt(preloaded: PreloadedData): Promise<void> {
    const policy = this.policy as LoadedPolicy & { baseHeapPtr: number; dataAddr: number; dataHeapPtr: number };
    if (policy.baseHeapPtr !== preloaded.baseHeapPtr) throw new TollgateError("policy_build_error", "preloaded policy data was made by a different module");
    const missing = preloaded.pages - policy.mem.buffer.byteLength / PAGE_BYTES;
    if (missing > 0) policy.mem.grow(missing);
    const from = new Uint8Array(preloaded.memory);
    for (let at = 0; at < from.length; at += ADOPT_SLICE) {
      if (at > 0) await nextTurn();
      new Uint8Array(policy.mem.buffer).set(from.subarray(at, at + ADOPT_SLICE), at);
    }
    policy.dataAddr = preloaded.dataAddr;
    policy.dataHeapPtr = preloaded.dataHeapPtr;
    (policy.wasmInstance as { exports: { opa_heap_ptr_set(ptr: number): void } }).exports.opa_heap_ptr_set(preloaded.dataHeapPtr);
  }

  private memory(): Uint8Array {
    const buffer = this.policy.mem.buffer;
    if (this.view.buffer !== buffer) this.view = new Uint8Array(buffer);
    return this.view;
  }
}
