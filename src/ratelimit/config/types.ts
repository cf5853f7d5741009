import type { Algorithm, FailureMode } from "../../limits/types.js";
import type { UnitName } from "../units.js";

/** One rate_limit block after validation. */
export interface LimitRule {
  readonly requestsPerUnit: number;
  /** Undefined only when unlimited. */
  readonly unit: UnitName | undefined;
  readonly unlimited: boolean;
  /** Empty when the block has no name. */
  readonly name: string;
  readonly replaces: readonly string[];
  readonly shadowMode: boolean;
  readonly quotaMode: boolean;
  readonly detailedMetric: boolean;
  /** tollgate extension; fixed_window unless set on the rate_limit block or the domain. */
  readonly algorithm: Algorithm;
  /** tollgate extension; allow unless set on the rate_limit block or the domain. */
  readonly failureMode: FailureMode;
  /** ratelimit's stats key for the rule: domain.key_value.subkey… */
  readonly fullKey: string;
  /** Where the rule was written, for logs: "file.yaml descriptors[0].descriptors[1]". */
  readonly source: string;
}

export interface WildcardEntry {
  /** The child's composite key ("key_val*ue"). */
  readonly compositeKey: string;
  /** compositeKey split on "*", computed once at load time. */
  readonly parts: readonly string[];
}

/** One level of the descriptor tree. Children are keyed by "key" or "key_value", as in ratelimit. */
export interface DescriptorNode {
  readonly children: ReadonlyMap<string, DescriptorNode>;
  /** Children whose composite key contains "*", in config order. */
  readonly wildcards: readonly WildcardEntry[];
  readonly limit: LimitRule | undefined;
  readonly valueToMetric: boolean;
  readonly shareThreshold: boolean;
  /** The composite key when share_threshold is set on a wildcard, else "". */
  readonly wildcardPattern: string;
}

export interface DomainConfig {
  readonly name: string;
  readonly root: DescriptorNode;
  /** Defaults for rate_limit blocks (and request-side overrides) of this domain. */
  readonly algorithm: Algorithm;
  readonly failureMode: FailureMode;
  readonly files: readonly string[];
}

export interface RateLimitConfig {
  readonly domains: ReadonlyMap<string, DomainConfig>;
  /** File names that were loaded, in load order. */
  readonly files: readonly string[];
  /** Suspicious but legal things (e.g. replaces naming a limit that exists nowhere). */
  readonly warnings: readonly string[];
}
