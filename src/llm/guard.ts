import { guardPatterns } from "../observability/mask.js";
import type { PolicyEngine } from "../policy/engine.js";

/**
 * Names of the prompt-guard patterns in the revision's data that match any text. The policy pack
 * would otherwise call regex.match per pattern, and OPA's WASM compiles each pattern again on
 * every evaluation (a third of a Check's CPU in the benchmark profile). The patterns are compiled
 * once per revision by the masking step (observability/mask.ts), which masks the same matches in
 * every logged copy. Returns undefined when the revision has no guard data or a pattern does not
 * compile: the policy then falls back to regex.match.
 */
export function guardHits(engine: PolicyEngine, texts: readonly string[]): string[] | undefined {
  const compiled = guardPatterns(engine.data);
  if (compiled === null) return undefined;
  const hits: string[] = [];
  for (const { name, pattern } of compiled) {
    if (texts.some((t) => pattern.test(t))) hits.push(name);
  }
  return [...new Set(hits)].sort();
}
