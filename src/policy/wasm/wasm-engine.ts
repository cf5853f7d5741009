import { createRequire } from "node:module";
import type { LoadedPolicy } from "@open-policy-agent/opa-wasm";
import { TollgateError } from "../../errors.js";
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

/** The exports of OPA's Wasm ABI that evaluation calls directly (ABI 1.2 and later). */
interface OpaExports {
  opa_eval(reserved: number, entrypoint: number, dataAddr: number, inputAddr: number, inputLen: number, heapAddr: number, format: number): number;
}

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
  private readonly entrypointIds: Readonly<Record<string, number>>;
  /** opa_eval, when the module speaks ABI 1.2 or later; undefined leaves evaluation to opa-wasm. */
  private readonly opaEval: OpaExports["opa_eval"] | undefined;
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
    this.opaEval = Number(this.policy.minorVersion) >= 2 && typeof exports.opa_eval === "function" ? exports.opa_eval : undefined;
  }

  evaluate(input: unknown): unknown {
    return this.evaluateAt(this.entrypoint, input);
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
      if (!this.opaEval) return this.policy.evaluate(input, entrypoint);
      return this.evalDirect(this.entrypointIds[entrypoint]!, input);
    } catch (err) {
      throw evalError(err);
    }
  }

  /**
   * What opa-wasm's evaluate does on ABI 1.2 (one opa_eval call, the input's JSON text placed just
   * above the data, where the evaluation heap starts), without its copies: the JSON text is encoded
   * straight into linear memory, and the result's text decoded straight out of it.
   */
  private evalDirect(entrypointId: number, input: unknown): unknown {
    const dataEnd: number = this.policy.dataHeapPtr;
    let inputLen = 0;
    // opa-wasm passes no input for any falsy value; kept so both paths see the same document.
    if (input) {
      const text = JSON.stringify(input);
      let view = this.memory();
      let written = utf8.encodeInto(text, view.subarray(dataEnd));
      if (written.read < text.length) {
        this.policy.mem.grow(Math.ceil((dataEnd + Buffer.byteLength(text) - view.byteLength) / PAGE_BYTES));
        view = this.memory();
        written = utf8.encodeInto(text, view.subarray(dataEnd));
      }
      inputLen = written.written;
    }
    const resultAddr = this.opaEval!(0, entrypointId, this.policy.dataAddr, inputLen > 0 ? dataEnd : 0, inputLen, dataEnd + inputLen, 0);
    const view = this.memory();
    const end = view.indexOf(0, resultAddr);
    return JSON.parse(fromUtf8.decode(view.subarray(resultAddr, end < 0 ? view.length : end)));
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
      if (at > 0) await new Promise((resolve) => setImmediate(resolve));
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
