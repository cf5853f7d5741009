import type { HostBuiltins } from "./engine.js";

/** One host built-in call: its name, its arguments as JSON text, and what it returned. */
export type BuiltinCall = [name: string, args: string, result: unknown];

/** One host built-in call as it was made: its arguments as opa-wasm passed them. */
export type RecordedCall = readonly [name: string, args: unknown[], result: unknown];

export interface RecordingBuiltins extends HostBuiltins {
  /** The calls of the latest evaluation begun, in order. */
  calls(): readonly RecordedCall[];
}

const NONE: never[] = [];

/**
 * Host built-ins that keep the calls the latest evaluation made. The loader thread warms the next
 * revision with the latest Check's input (src/policy/preload-data.ts) but has none of tollgate's
 * built-ins: an evaluation stopped at the first one (the shipped pack's crypto.sha256 of the
 * client key, early in every Check), so the rest of the policy was compiled on the event loop by
 * the first evaluation there. Given these calls it answers the same ones with the same results.
 */
export function recordingBuiltins(host: HostBuiltins): RecordingBuiltins {
  let current: RecordedCall[] = NONE;
  const builtins: HostBuiltins["builtins"] = {};
  for (const [name, fn] of Object.entries(host.builtins)) {
    builtins[name] = (...args: never[]) => {
      const result = fn(...args);
      if (current === NONE) current = [];
      current.push([name, args, result]);
      return result;
    };
  }
  return {
    builtins,
    beginEvaluation() {
      current = NONE;
      host.beginEvaluation();
    },
    calls: () => current,
  };
}

/** The calls as the loader takes them (arguments as JSON text), or undefined past `maxChars` of arguments. */
export function forLoader(calls: readonly RecordedCall[], maxChars: number): BuiltinCall[] | undefined {
  const out: BuiltinCall[] = [];
  let chars = 0;
  for (const [name, args, result] of calls) {
    const text = JSON.stringify(args);
    chars += text.length + (typeof result === "string" ? result.length : 0);
    if (chars > maxChars) return undefined;
    out.push([name, text, result]);
  }
  return out;
}
