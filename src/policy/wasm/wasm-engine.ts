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

  /** With `module` (from compilePolicy) only instantiation runs here; without, the WASM is compiled synchronously. */
  constructor(built: BuiltPolicy, host: HostBuiltins, module?: CompiledPolicy) {
    this.revision = built.revision;
    this.data = built.data;
    this.entrypoint = built.entrypoint;
    this.maskEntrypoint = built.maskEntrypoint;
    this.dropEntrypoint = built.dropEntrypoint;
    this.host = host;
    try {
      this.policy = opa.loadPolicySync((module ?? built.wasm) as PolicySource, { initial: 16, maximum: PAGE_LIMIT }, host.builtins);
      this.policy.setData(built.data as object);
    } catch (err) {
      throw new TollgateError("policy_build_error", `cannot load compiled policy: ${evalError(err).message}`, { cause: err });
    }
    if (!(built.entrypoint in this.policy.entrypoints)) {
      throw new TollgateError("policy_build_error", `compiled policy has no entrypoint ${built.entrypoint}`);
    }
  }

  evaluate(input: unknown): unknown {
    this.host.beginEvaluation();
    try {
      return this.policy.evaluate(input, this.entrypoint);
    } catch (err) {
      throw evalError(err);
    }
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
      return this.policy.evaluate(input, entrypoint);
    } catch (err) {
      throw evalError(err);
    }
  }
}
