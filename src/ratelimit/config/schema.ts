import type { Algorithm, FailureMode } from "../../limits/types.js";
import { configError, type YNode } from "./yaml-tree.js";

/** A config file's content, shape-checked but not yet cross-checked (units, duplicates…). */
export interface RawFile {
  readonly file: string;
  readonly domain: string;
  /** Line of the domain key (1 when absent), for error messages. */
  readonly domainLine: number;
  readonly algorithm: Algorithm | undefined;
  readonly failureMode: FailureMode | undefined;
  readonly descriptors: readonly RawDescriptor[];
}

export interface RawDescriptor {
  readonly where: Where;
  readonly key: string;
  readonly value: string;
  readonly rateLimit: RawRateLimit | undefined;
  readonly descriptors: readonly RawDescriptor[];
  readonly shadowMode: boolean;
  readonly quotaMode: boolean;
  readonly detailedMetric: boolean;
  readonly valueToMetric: boolean;
  readonly shareThreshold: boolean;
}

export interface RawRateLimit {
  readonly where: Where;
  /** As written; "" when absent. Checked against the unlimited flag later. */
  readonly unit: string;
  readonly requestsPerUnit: number;
  readonly unlimited: boolean;
  readonly name: string;
  readonly replaces: readonly { name: string; where: Where }[];
  readonly algorithm: Algorithm | undefined;
  readonly failureMode: FailureMode | undefined;
}

/** A position in a file, for error messages. */
export interface Where {
  readonly file: string;
  readonly path: string;
  readonly line: number;
}

const ROOT_KEYS = new Set(["domain", "descriptors", "algorithm", "failure_mode"]);
const DESCRIPTOR_KEYS = new Set([
  "key",
  "value",
  "rate_limit",
  "descriptors",
  "shadow_mode",
  "quota_mode",
  "detailed_metric",
  "value_to_metric",
  "share_threshold",
]);
const RATE_LIMIT_KEYS = new Set(["unit", "requests_per_unit", "unlimited", "name", "replaces", "algorithm", "failure_mode"]);
const REPLACES_KEYS = new Set(["name"]);
const ALGORITHMS: readonly Algorithm[] = ["fixed_window", "sliding_window", "token_bucket"];
const FAILURE_MODES: readonly FailureMode[] = ["allow", "deny"];
const MAX_UINT32 = 4_294_967_295;

export function fail(where: Where, message: string): never {
  const at = where.path === "" ? "" : ` at ${where.path}`;
  throw configError(where.file, `${message}${at} (line ${where.line})`);
}

function child(where: Where, key: string, line: number): Where {
  return { file: where.file, path: where.path === "" ? key : `${where.path}.${key}`, line };
}

type MapNode = Extract<YNode, { kind: "map" }>;

function fieldsOf(node: MapNode, where: Where, allowed: ReadonlySet<string>): Map<string, { value: YNode; where: Where }> {
  const out = new Map<string, { value: YNode; where: Where }>();
  for (const entry of node.entries) {
    const at = child(where, entry.key, entry.line);
    if (!allowed.has(entry.key)) fail(at, `config error, unknown key '${entry.key}'`);
    out.set(entry.key, { value: entry.value, where: at });
  }
  return out;
}

function isNull(node: YNode): boolean {
  return node.kind === "scalar" && node.value === null;
}

/** Strings take the scalar's text, as yaml.v2 does for string fields: `value: 010` stays "010". */
function stringField(field: { value: YNode; where: Where } | undefined): string {
  if (!field || isNull(field.value)) return "";
  const node = field.value;
  if (node.kind !== "scalar") fail(field.where, "config error, expected a string");
  return typeof node.value === "string" ? node.value : node.source;
}

function boolField(field: { value: YNode; where: Where } | undefined): boolean {
  if (!field || isNull(field.value)) return false;
  const node = field.value;
  if (node.kind !== "scalar" || typeof node.value !== "boolean") fail(field.where, "config error, expected true or false");
  return node.value;
}

function uint32Field(field: { value: YNode; where: Where } | undefined): number {
  if (!field || isNull(field.value)) return 0;
  const node = field.value;
  const n = node.kind === "scalar" && !node.quoted ? node.value : undefined;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_UINT32) {
    fail(field.where, `config error, expected an integer from 0 to ${MAX_UINT32}`);
  }
  return n;
}

function enumField<T extends string>(field: { value: YNode; where: Where } | undefined, allowed: readonly T[]): T | undefined {
  if (!field || isNull(field.value)) return undefined;
  const text = stringField(field);
  const found = allowed.find((a) => a === text);
  if (!found) fail(field.where, `config error, '${text}' is not one of ${allowed.join(", ")}`);
  return found;
}

function mapList(field: { value: YNode; where: Where } | undefined): { node: MapNode; where: Where }[] {
  if (!field || isNull(field.value)) return [];
  const node = field.value;
  if (node.kind !== "seq") fail(field.where, "config error, expected a list");
  return node.items.map((item, i) => {
    const where = { file: field.where.file, path: `${field.where.path}[${i}]`, line: item.line || field.where.line };
    if (item.kind !== "map") {
      const shown = item.kind === "scalar" ? item.source : "a list";
      fail(where, `config error, yaml file contains list of type other than map: ${shown}`);
    }
    return { node: item, where };
  });
}

export function readRawFile(file: string, tree: YNode | undefined): RawFile {
  const where: Where = { file, path: "", line: tree?.line ?? 1 };
  if (tree === undefined || isNull(tree)) {
    return { file, domain: "", domainLine: 1, algorithm: undefined, failureMode: undefined, descriptors: [] };
  }
  if (tree.kind !== "map") fail(where, "error loading config file: the top level must be a mapping");
  const fields = fieldsOf(tree, where, ROOT_KEYS);
  return {
    file,
    domain: stringField(fields.get("domain")),
    domainLine: fields.get("domain")?.where.line ?? where.line,
    algorithm: enumField(fields.get("algorithm"), ALGORITHMS),
    failureMode: enumField(fields.get("failure_mode"), FAILURE_MODES),
    descriptors: mapList(fields.get("descriptors")).map((d) => readDescriptor(d.node, d.where)),
  };
}

function readDescriptor(node: MapNode, where: Where): RawDescriptor {
  const fields = fieldsOf(node, where, DESCRIPTOR_KEYS);
  const rateLimit = fields.get("rate_limit");
  return {
    where,
    key: stringField(fields.get("key")),
    value: stringField(fields.get("value")),
    rateLimit: rateLimit && !isNull(rateLimit.value) ? readRateLimit(rateLimit.value, rateLimit.where) : undefined,
    descriptors: mapList(fields.get("descriptors")).map((d) => readDescriptor(d.node, d.where)),
    shadowMode: boolField(fields.get("shadow_mode")),
    quotaMode: boolField(fields.get("quota_mode")),
    detailedMetric: boolField(fields.get("detailed_metric")),
    valueToMetric: boolField(fields.get("value_to_metric")),
    shareThreshold: boolField(fields.get("share_threshold")),
  };
}

function readRateLimit(node: YNode, where: Where): RawRateLimit {
  if (node.kind !== "map") fail(where, "config error, rate_limit must be a mapping");
  const fields = fieldsOf(node, where, RATE_LIMIT_KEYS);
  const replaces = mapList(fields.get("replaces")).map((r) => {
    const inner = fieldsOf(r.node, r.where, REPLACES_KEYS);
    return { name: stringField(inner.get("name")), where: r.where };
  });
  return {
    where,
    unit: stringField(fields.get("unit")),
    requestsPerUnit: uint32Field(fields.get("requests_per_unit")),
    unlimited: boolField(fields.get("unlimited")),
    name: stringField(fields.get("name")),
    replaces,
    algorithm: enumField(fields.get("algorithm"), ALGORITHMS),
    failureMode: enumField(fields.get("failure_mode"), FAILURE_MODES),
  };
}
