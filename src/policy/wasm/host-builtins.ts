import type { HostBuiltins } from "../engine.js";

export function createHostBuiltins(): HostBuiltins {
  return { builtins: {}, beginEvaluation: () => undefined };
}
