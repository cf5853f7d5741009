import { TollgateError } from "../errors.js";
import type { RateLimitDescriptor, RateLimitDescriptor_Entry } from "../gen/envoy/extensions/common/ratelimit/v3/ratelimit.js";
import type { Algorithm, FailureMode } from "../limits/types.js";
import type { DescriptorNode, LimitRule, RateLimitConfig } from "./config/types.js";
import { unitFromProto, type UnitName } from "./units.js";

/** The limit that applies to one request descriptor. */
export interface MatchedLimit {
  readonly requestsPerUnit: number;
  /** Undefined only when unlimited. */
  readonly unit: UnitName | undefined;
  readonly unlimited: boolean;
  readonly name: string;
  readonly replaces: readonly string[];
  readonly shadowMode: boolean;
  readonly quotaMode: boolean;
  readonly algorithm: Algorithm;
  readonly failureMode: FailureMode;
  /**
   * Counter identity, as ratelimit's cache key without the time: "domain_k1_v1_k2_v2_". Values of
   * entries matched through a share_threshold wildcard are replaced by the pattern ("files_files/*_").
   */
  readonly counterKey: string;
  /** ratelimit's stats key (honours detailed_metric, value_to_metric and share_threshold). */
  readonly statsKey: string;
  /** True when the limit came from the descriptor's own limit override. */
  readonly fromOverride: boolean;
}

/**
 * Whether `value` matches a pattern already split on "*": each "*" matches any run of characters
 * (possibly empty), literal parts must appear in order. Mirrors ratelimit's wildcardMatch.
 */
export function wildcardMatch(parts: readonly string[], value: string): boolean {
  const first = parts[0] ?? "";
  if (parts.length === 1) return first === value;
  const last = parts[parts.length - 1] ?? "";
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  const fixed = parts.reduce((n, p) => n + p.length, 0);
  if (value.length < fixed) return false;
  let remaining = value.slice(first.length, value.length - last.length);
  for (const part of parts.slice(1, -1)) {
    const at = remaining.indexOf(part);
    if (at < 0) return false;
    remaining = remaining.slice(at + part.length);
  }
  return true;
}

function trimPrefix(s: string, prefix: string): string {
  return s.startsWith(prefix) ? s.slice(prefix.length) : s;
}

/** "domain_k1_v1_k2_v2_": ratelimit's cache key minus the window start the store appends. */
export function counterKeyOf(domain: string, entries: readonly RateLimitDescriptor_Entry[], patterns?: ReadonlyMap<number, string>): string {
  let key = `${domain}_`;
  entries.forEach((e, i) => {
    key += `${e.key}_${patterns?.get(i) ?? e.value}_`;
  });
  return key;
}

/** ratelimit's descriptorKey: "domain.k1_v1.k2" (the value part is left out when empty). */
function descriptorStatsKey(domain: string, entries: readonly RateLimitDescriptor_Entry[]): string {
  return `${domain}.${entries.map((e) => (e.value === "" ? e.key : `${e.key}_${e.value}`)).join(".")}`;
}

function fromRule(rule: LimitRule, counterKey: string, statsKey: string): MatchedLimit {
  return {
    requestsPerUnit: rule.requestsPerUnit,
    unit: rule.unit,
    unlimited: rule.unlimited,
    name: rule.name,
    replaces: rule.replaces,
    shadowMode: rule.shadowMode,
    quotaMode: rule.quotaMode,
    algorithm: rule.algorithm,
    failureMode: rule.failureMode,
    counterKey,
    statsKey,
    fromOverride: false,
  };
}

export interface MatchArgs {
  config: RateLimitConfig;
  domain: string;
  descriptor: RateLimitDescriptor;
}

/**
 * Finds the limit for one descriptor, as ratelimit's GetLimit: unknown domain gives none; a limit
 * override wins (no shadow mode, no name); otherwise each entry tries "key_value", then wildcards in
 * config order, then the bare key, and a limit counts only at the depth of the last entry.
 * Throws TollgateError("request_parse_error") for an override with an unknown unit.
 */
export function matchLimit({ config, domain, descriptor }: MatchArgs): MatchedLimit | undefined {
  const domainConfig = config.domains.get(domain);
  if (!domainConfig) return undefined;
  const entries = descriptor.entries;

  if (descriptor.limit) {
    const unit = unitFromProto(descriptor.limit.unit);
    if (!unit) {
      throw new TollgateError("request_parse_error", `descriptor limit override has unknown unit ${String(descriptor.limit.unit)}`);
    }
    return {
      requestsPerUnit: descriptor.limit.requestsPerUnit,
      unit,
      unlimited: false,
      name: "",
      replaces: [],
      shadowMode: false,
      quotaMode: false,
      algorithm: domainConfig.algorithm,
      failureMode: domainConfig.failureMode,
      counterKey: counterKeyOf(domain, entries),
      statsKey: descriptorStatsKey(domain, entries),
      fromOverride: true,
    };
  }

  let node: DescriptorNode = domainConfig.root;
  let found: LimitRule | undefined;
  const sharePatterns = new Map<number, string>();
  let detailedKey = domain;
  let valueToMetricKey = domain;

  for (const [i, entry] of entries.entries()) {
    const composite = `${entry.key}_${entry.value}`;
    detailedKey += `.${composite}`;
    let next = node.children.get(composite);
    let wildcardKey = "";
    if (!next) {
      for (const w of node.wildcards) {
        if (wildcardMatch(w.parts, composite)) {
          next = node.children.get(w.compositeKey);
          wildcardKey = w.compositeKey;
          break;
        }
      }
    }
    const matchedByValue = next !== undefined;
    if (!next) next = node.children.get(entry.key);

    if (wildcardKey !== "" && next?.shareThreshold && next.wildcardPattern !== "") {
      sharePatterns.set(i, trimPrefix(next.wildcardPattern, `${entry.key}_`));
    }

    valueToMetricKey += `.${entry.key}`;
    if (next) {
      let shown = "";
      if (wildcardKey !== "") {
        shown = sharePatterns.get(i) ?? (next.valueToMetric ? entry.value : trimPrefix(wildcardKey, `${entry.key}_`));
      } else if (matchedByValue || next.valueToMetric) {
        shown = entry.value;
      }
      if (shown !== "") valueToMetricKey += `_${shown}`;
    }

    if (next?.limit && i === entries.length - 1) found = next.limit;
    if (!next || next.children.size === 0) break;
    node = next;
  }

  if (!found) return undefined;
  const counterKey = counterKeyOf(domain, entries, sharePatterns);
  let statsKey = found.fullKey;
  if (found.detailedMetric) {
    statsKey = sharePatterns.size > 0 ? descriptorStatsKey(domain, entries.map((e, i) => ({ key: e.key, value: sharePatterns.get(i) ?? e.value }))) : detailedKey;
  } else if (valueToMetricKey !== found.fullKey) {
    statsKey = valueToMetricKey;
  }
  return fromRule(found, counterKey, statsKey);
}

/** Most descriptors a MatchCache remembers; when full it starts over (high-cardinality values only cost a miss). */
export const MATCH_CACHE_ENTRIES = 10_000;

/** domain and entries, length-prefixed so that no two descriptors share a key (values may hold any character). */
function descriptorIdentity(domain: string, entries: readonly RateLimitDescriptor_Entry[]): string {
  let id = `${domain.length}:${domain}`;
  for (const e of entries) id += `${e.key.length}:${e.key}${e.value.length}:${e.value}`;
  return id;
}

/**
 * matchLimit, remembered per config: without a limit override a descriptor's match depends only
 * on the config, the domain and its entries, and a config never changes once loaded (a reload
 * is a new object, which empties the cache). Saves the walk and its strings on every call.
 * The MatchedLimit objects are shared between calls; they are read-only.
 */
export class MatchCache {
  private config: RateLimitConfig | undefined;
  private readonly matches = new Map<string, MatchedLimit | null>();

  constructor(private readonly maxEntries = MATCH_CACHE_ENTRIES) {}

  match(args: MatchArgs): MatchedLimit | undefined {
    if (args.descriptor.limit) return matchLimit(args);
    if (args.config !== this.config) {
      this.matches.clear();
      this.config = args.config;
    }
    const id = descriptorIdentity(args.domain, args.descriptor.entries);
    const known = this.matches.get(id);
    if (known !== undefined) return known ?? undefined;
    const found = matchLimit(args);
    if (this.matches.size >= this.maxEntries) this.matches.clear();
    this.matches.set(id, found ?? null);
    return found;
  }
}
