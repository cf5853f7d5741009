import { reasonLabel } from "../observability/metrics.js";

/** What a decision line says about a decided Check, read from the policy's dynamic_metadata. */
export interface DecisionFacts {
  /** The tenant the policy identified (`dynamic_metadata.tenant`), or null when it named none. */
  tenant: string | null;
  /** The reason an allowed decision gives (`dynamic_metadata.reason`), "allowed" when none. */
  allowReason: string;
  /** Guard pattern names behind a denial (`dynamic_metadata.guard_patterns`); names, never matched text. */
  guardPatterns: string[];
}

const MAX_TENANT_CHARS = 128;
const MAX_PATTERNS = 16;
const PATTERN_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Bounded and typed: a policy cannot put free text or a large value into the decision line this way. */
export function decisionFacts(metadata: Record<string, unknown> | undefined): DecisionFacts {
  const tenant = metadata?.["tenant"];
  const reason = metadata?.["reason"];
  const patterns = metadata?.["guard_patterns"];
  return {
    tenant: typeof tenant === "string" && tenant.length > 0 ? tenant.slice(0, MAX_TENANT_CHARS) : null,
    allowReason: reason === undefined ? "allowed" : reasonLabel(reason),
    guardPatterns: Array.isArray(patterns) ? patterns.filter((p): p is string => typeof p === "string" && PATTERN_NAME.test(p)).slice(0, MAX_PATTERNS) : [],
  };
}
