import { TollgateError } from "../../../errors.js";
import { cryptoBuiltins } from "./crypto.js";
import { encodingBuiltins } from "./encoding.js";
import { KeyStore } from "./jwk.js";
import { jwtBuiltins } from "./jwt.js";
import type { BuiltinImpl, JsonValue } from "./operands.js";
import { timeBuiltins } from "./time.js";

export interface HostBuiltinsOptions {
  /** Wall clock in nanoseconds since the Unix epoch; read at most once per evaluation. Default: Date.now(). */
  clock?: () => bigint;
  /**
   * Called when a built-in fails. The call then yields undefined, as OPA's non-strict mode
   * makes a failing built-in undefined, so the policy carries on (e.g. default deny).
   */
  onError?: (error: TollgateError, builtin: string) => void;
  /** Parsed `cert` strings (PEM or JWKS) kept; default 100, OPA's own default. */
  keyCacheSize?: number;
  /** Signature verification results kept per (token, key material); default 1000. */
  tokenCacheSize?: number;
}

/** A synchronous host function as opa-wasm's customBuiltins expects it: JSON in, JSON out. */
export type WasmBuiltin = (...args: never[]) => unknown;

export interface TollgateHostBuiltins {
  /** Pass as opa-wasm's customBuiltins (loadPolicy / loadPolicySync third argument). */
  readonly builtins: Record<string, WasmBuiltin>;
  /**
   * Call right before each evaluate(): forgets the previous evaluation's time.now_ns so the
   * next call reads the clock once and every later call in that evaluation sees the same value.
   * `nowNs` pins an explicit time instead.
   */
  beginEvaluation(nowNs?: bigint): void;
}

function defaultClock(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Integers beyond 2^53 (nanosecond timestamps) are returned as bigint by the built-ins;
 * opa-wasm accepts an ArrayBuffer of JSON text, which carries them without rounding.
 */
function toWire(result: unknown): unknown {
  if (typeof result !== "bigint") return result;
  const text = result.toString();
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes.buffer;
}

/** Creates tollgate's host built-ins (JWT, crypto, encoding, time) with their own caches and clock. */
export function createHostBuiltins(options: HostBuiltinsOptions = {}): TollgateHostBuiltins {
  const clock = options.clock ?? defaultClock;
  let pinned: bigint | undefined;
  const nowNs = (): bigint => (pinned ??= clock());

  const impls: Record<string, BuiltinImpl> = {
    ...jwtBuiltins({ keys: new KeyStore(options.keyCacheSize ?? 100), tokenCacheSize: options.tokenCacheSize ?? 1000, nowNs }),
    ...cryptoBuiltins(),
    ...encodingBuiltins(),
    ...timeBuiltins(nowNs),
  };

  const builtins: Record<string, WasmBuiltin> = {};
  for (const [name, impl] of Object.entries(impls)) {
    builtins[name] = (...args: never[]) => {
      try {
        return toWire(impl(...(args as JsonValue[])));
      } catch (err) {
        options.onError?.(TollgateError.from(err, "policy_eval_error"), name);
        return undefined;
      }
    };
  }

  return {
    builtins,
    beginEvaluation(nowNs?: bigint) {
      pinned = nowNs;
    },
  };
}
