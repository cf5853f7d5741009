import type { Algorithm, FailureMode } from "../../limits/types.js";
import { parseUnitName } from "../units.js";
import { fail, type RawDescriptor, type RawFile, type RawRateLimit } from "./schema.js";
import type { DescriptorNode, DomainConfig, LimitRule, RateLimitConfig, WildcardEntry } from "./types.js";

interface BuildNode extends DescriptorNode {
  readonly children: Map<string, BuildNode>;
  readonly wildcards: WildcardEntry[];
}

interface BuildDomain {
  name: string;
  root: BuildNode;
  algorithm: Algorithm | undefined;
  failureMode: FailureMode | undefined;
  files: string[];
  names: Set<string>;
  replaced: { name: string; source: string }[];
}

interface Defaults {
  algorithm: Algorithm;
  failureMode: FailureMode;
}

export interface CompileOptions {
  /** ratelimit's MERGE_DOMAIN_CONFIG: several files may add descriptors to one domain. Default false. */
  mergeDomains?: boolean;
}

function emptyNode(): BuildNode {
  return { children: new Map(), wildcards: [], limit: undefined, valueToMetric: false, shareThreshold: false, wildcardPattern: "" };
}

/** Cross-checks and indexes validated files, applying ratelimit's load-time rules in ratelimit's order. */
export function compileConfig(files: readonly RawFile[], options: CompileOptions = {}): RateLimitConfig {
  const domains = new Map<string, BuildDomain>();
  for (const raw of files) {
    const where = { file: raw.file, path: "domain", line: raw.domainLine };
    if (raw.domain === "") fail({ ...where, path: "" }, "config file cannot have empty domain");
    let domain = domains.get(raw.domain);
    if (domain && !options.mergeDomains) fail(where, `duplicate domain '${raw.domain}' in config file`);
    if (!domain) {
      domain = {
        name: raw.domain,
        root: emptyNode(),
        algorithm: raw.algorithm,
        failureMode: raw.failureMode,
        files: [],
        names: new Set(),
        replaced: [],
      };
      domains.set(raw.domain, domain);
    } else {
      if (raw.algorithm && domain.algorithm && raw.algorithm !== domain.algorithm) {
        fail({ ...where, path: "algorithm" }, `conflicting algorithm for merged domain '${raw.domain}'`);
      }
      if (raw.failureMode && domain.failureMode && raw.failureMode !== domain.failureMode) {
        fail({ ...where, path: "failure_mode" }, `conflicting failure_mode for merged domain '${raw.domain}'`);
      }
      domain.algorithm ??= raw.algorithm;
      domain.failureMode ??= raw.failureMode;
    }
    domain.files.push(raw.file);
    const defaults: Defaults = { algorithm: raw.algorithm ?? "fixed_window", failureMode: raw.failureMode ?? "allow" };
    loadDescriptors({ node: domain.root, parentKey: `${raw.domain}.`, descriptors: raw.descriptors, defaults, domain });
  }

  const warnings: string[] = [];
  const result = new Map<string, DomainConfig>();
  for (const d of domains.values()) {
    for (const r of d.replaced) {
      if (!d.names.has(r.name)) warnings.push(`${r.source}: replaces '${r.name}', but no rate_limit in domain '${d.name}' has that name`);
    }
    result.set(d.name, {
      name: d.name,
      root: d.root,
      algorithm: d.algorithm ?? "fixed_window",
      failureMode: d.failureMode ?? "allow",
      files: d.files,
    });
  }
  return { domains: result, files: files.map((f) => f.file), warnings };
}

interface LoadArgs {
  node: BuildNode;
  parentKey: string;
  descriptors: readonly RawDescriptor[];
  defaults: Defaults;
  domain: BuildDomain;
}

function loadDescriptors(args: LoadArgs): void {
  const { node, parentKey, defaults, domain } = args;
  for (const d of args.descriptors) {
    if (d.key === "") fail(d.where, "descriptor has empty key");
    // The map key is "key" or "key_value", exactly as ratelimit builds it.
    const composite = d.value === "" ? d.key : `${d.key}_${d.value}`;
    const fullKey = parentKey + composite;
    if (node.children.has(composite)) fail(d.where, `duplicate descriptor composite key '${fullKey}'`);

    const limit = d.rateLimit ? compileRule({ raw: d.rateLimit, descriptor: d, fullKey, defaults, domain }) : undefined;

    const isWildcard = composite.includes("*");
    if (d.shareThreshold && !isWildcard) {
      fail(d.where, `share_threshold can only be used with wildcard values (containing '*'), but found key '${composite}'`);
    }
    if (isWildcard) node.wildcards.push({ compositeKey: composite, parts: composite.split("*") });

    const next: BuildNode = {
      children: new Map(),
      wildcards: [],
      limit,
      valueToMetric: d.valueToMetric,
      shareThreshold: d.shareThreshold,
      wildcardPattern: d.shareThreshold ? composite : "",
    };
    loadDescriptors({ node: next, parentKey: `${fullKey}.`, descriptors: d.descriptors, defaults, domain });
    node.children.set(composite, next);
  }
}

interface RuleArgs {
  raw: RawRateLimit;
  descriptor: RawDescriptor;
  fullKey: string;
  defaults: Defaults;
  domain: BuildDomain;
}

function compileRule({ raw, descriptor, fullKey, defaults, domain }: RuleArgs): LimitRule {
  const unit = parseUnitName(raw.unit);
  if (raw.unlimited) {
    if (unit) fail(raw.where, "should not specify rate limit unit when unlimited");
  } else if (!unit) {
    fail(raw.where, `invalid rate limit unit '${raw.unit}'`);
  }
  const source = `${raw.where.file} ${descriptor.where.path}`;
  for (const r of raw.replaces) {
    if (r.name === "") fail(r.where, "should not have an empty replaces entry");
    if (r.name === raw.name) fail(r.where, "replaces should not contain name of same descriptor");
    domain.replaced.push({ name: r.name, source });
  }
  if (raw.name !== "") domain.names.add(raw.name);
  return {
    requestsPerUnit: raw.requestsPerUnit,
    unit: raw.unlimited ? undefined : unit,
    unlimited: raw.unlimited,
    name: raw.name,
    replaces: raw.replaces.map((r) => r.name),
    shadowMode: descriptor.shadowMode,
    quotaMode: descriptor.quotaMode,
    detailedMetric: descriptor.detailedMetric,
    algorithm: raw.algorithm ?? defaults.algorithm,
    failureMode: raw.failureMode ?? defaults.failureMode,
    fullKey,
    source,
  };
}
