import { isIP } from "node:net";
import protobuf from "protobufjs";

/**
 * protoc-gen-validate rules, read from the `(validate.rules)` / `(validate.required)` options
 * protobufjs keeps on the reflection objects. Envoy runs these same rules when it loads a
 * config, so a violation here is a config Envoy would refuse.
 */

/** A decoded field value, as much of it as the rules need. Enums are numbers. */
export type RuleValue =
  | string
  | boolean
  | number
  | bigint
  | Buffer
  | { kind: "map"; entries: [RuleValue, RuleValue][] }
  | { kind: "list"; items: RuleValue[] }
  | { kind: "duration"; nanos: bigint }
  | { kind: "timestamp" }
  | { kind: "any"; typeUrl: unknown }
  | { kind: "wrapper"; inner: RuleValue }
  | { kind: "message" };

type Rules = Record<string, unknown>;
type Report = (path: string, message: string) => void;

const INT_KINDS = new Set(["int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"]);

function optionOf(object: protobuf.ReflectionObject, name: string): unknown {
  for (const option of object.parsedOptions ?? []) {
    if (Object.prototype.hasOwnProperty.call(option, name)) return (option as Record<string, unknown>)[name];
  }
  return object.options?.[name];
}

function asRules(value: unknown): Rules | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Rules) : undefined;
}

export function checkOneofRules(args: { oneof: protobuf.OneOf; setCount: number; path: string; report: Report }): void {
  if (optionOf(args.oneof, "(validate.required)") === true && args.setCount === 0) {
    args.report(args.path, `one of ${args.oneof.oneof.join(", ")} is required (oneof ${args.oneof.name})`);
  }
}

export function checkFieldRules(args: { field: protobuf.Field; isSet: boolean; value: RuleValue | undefined; path: string; report: Report }): void {
  const { field, isSet, path, report } = args;
  const rules = asRules(optionOf(field, "(validate.rules)"));
  if (!rules) return;
  const defined = field.resolvedType instanceof protobuf.Enum ? Object.values(field.resolvedType.values) : undefined;
  const check = (value: RuleValue): void => checkValue({ rules, value, path, report, defined });
  if (field.map) return check(args.value ?? { kind: "map", entries: [] });
  if (field.repeated) return check(args.value ?? { kind: "list", items: [] });
  // Rules of a oneof member (proto3 optional fields included) apply only when it is the one set.
  if (!isSet && field.partOf) return;
  if (field.resolvedType instanceof protobuf.Type) {
    const required = [rules["message"], rules["duration"], rules["any"], rules["timestamp"]].some((r) => asRules(r)?.["required"] === true);
    if (required && !isSet) report(path, `${field.name} is required`);
    if (isSet && args.value !== undefined) check(args.value);
    return;
  }
  // Scalars and enums: an unset field has its default value, which the rules still see.
  check(isSet && args.value !== undefined ? args.value : defaultFor(field));
}

function defaultFor(field: protobuf.Field): RuleValue {
  if (field.resolvedType instanceof protobuf.Enum) return 0;
  if (field.type === "string") return "";
  if (field.type === "bool") return false;
  if (field.type === "bytes") return Buffer.alloc(0);
  if (field.type === "double" || field.type === "float") return 0;
  return 0n;
}

interface CheckArgs {
  rules: Rules;
  value: RuleValue;
  path: string;
  report: Report;
  /** The enum's defined numbers, for enum.defined_only. */
  defined: readonly number[] | undefined;
}

function checkValue(args: CheckArgs): void {
  const { rules, value, path, report } = args;
  for (const [kind, raw] of Object.entries(rules)) {
    const r = asRules(raw);
    if (!r) continue;
    if (kind === "string" && typeof value === "string") stringRules(r, value, path, report);
    else if (kind === "bytes" && Buffer.isBuffer(value)) lengthRules(r, value.length, "bytes", path, report);
    else if (kind === "bool" && typeof value === "boolean" && r["const"] !== undefined && value !== r["const"]) report(path, `must be ${String(r["const"])}`);
    else if (kind === "enum" && typeof value === "number") enumRules(r, value, args.defined, path, report);
    else if (INT_KINDS.has(kind) && typeof value === "bigint") numberRules({ r, value, convert: toBig, show: String, path, report });
    else if ((kind === "double" || kind === "float") && typeof value === "number") numberRules({ r, value, convert: Number, show: String, path, report });
    else if (isObj(value, "wrapper")) checkValue({ ...args, rules: { [kind]: r }, value: value.inner });
    else if (kind === "duration" && isObj(value, "duration")) numberRules({ r, value: value.nanos, convert: durationNanos, show: showNanos, path, report });
    else if (kind === "any" && isObj(value, "any")) anyRules(r, value.typeUrl, path, report);
    else if (kind === "repeated" && isObj(value, "list")) repeatedRules(r, value.items, args);
    else if (kind === "map" && isObj(value, "map")) mapRules(r, value.entries, args);
  }
}

function isObj<K extends string>(value: RuleValue, kind: K): value is Extract<RuleValue, { kind: K }> {
  return typeof value === "object" && !Buffer.isBuffer(value) && value.kind === kind;
}

const HEADER_REGEX: Readonly<Record<string, readonly [strict: RegExp, loose: RegExp]>> = {
  HTTP_HEADER_NAME: [/^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/, /^[^\0\n\r]+$/],
  HTTP_HEADER_VALUE: [/^[^\0-\x08\n-\x1f\x7f]*$/, /^[^\0\n\r]*$/],
};

function stringRules(r: Rules, value: string, path: string, report: Report): void {
  if (r["ignore_empty"] === true && value === "") return;
  lengthRules(r, [...value].length, "characters", path, report);
  const bytes = Buffer.byteLength(value);
  if (typeof r["min_bytes"] === "number" && bytes < r["min_bytes"]) report(path, `must be at least ${r["min_bytes"]} bytes`);
  if (typeof r["max_bytes"] === "number" && bytes > r["max_bytes"]) report(path, `must be at most ${r["max_bytes"]} bytes`);
  if (typeof r["const"] === "string" && value !== r["const"]) report(path, `must be "${r["const"]}"`);
  if (typeof r["prefix"] === "string" && !value.startsWith(r["prefix"])) report(path, `must start with "${r["prefix"]}"`);
  if (typeof r["suffix"] === "string" && !value.endsWith(r["suffix"])) report(path, `must end with "${r["suffix"]}"`);
  if (typeof r["contains"] === "string" && !value.includes(r["contains"])) report(path, `must contain "${r["contains"]}"`);
  if (typeof r["not_contains"] === "string" && value.includes(r["not_contains"])) report(path, `must not contain "${r["not_contains"]}"`);
  const within = list(r["in"]);
  if (within.length > 0 && !within.includes(value)) report(path, `"${value}" must be one of ${within.map((v) => JSON.stringify(v)).join(", ")}`);
  if (list(r["not_in"]).includes(value)) report(path, `"${value}" is not allowed`);
  if (typeof r["pattern"] === "string") {
    let re: RegExp | undefined;
    try {
      re = new RegExp(r["pattern"], "u");
    } catch {
      re = undefined; // RE2-only syntax: left to Envoy
    }
    if (re && !re.test(value)) report(path, `"${value}" does not match ${r["pattern"]}`);
  }
  const wellKnown = typeof r["well_known_regex"] === "string" ? HEADER_REGEX[r["well_known_regex"]] : undefined;
  if (wellKnown && !wellKnown[r["strict"] === false ? 1 : 0].test(value)) {
    report(path, `"${value}" is not a valid ${String(r["well_known_regex"]).toLowerCase().replaceAll("_", " ")}`);
  }
  if (r["ip"] === true && isIP(value) === 0) report(path, `"${value}" must be an IP address`);
  if (r["ipv4"] === true && isIP(value) !== 4) report(path, `"${value}" must be an IPv4 address`);
  if (r["ipv6"] === true && isIP(value) !== 6) report(path, `"${value}" must be an IPv6 address`);
  const hostname = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
  if (r["hostname"] === true && !hostname.test(value)) report(path, `"${value}" must be a host name`);
  if (r["address"] === true && isIP(value) === 0 && !hostname.test(value)) report(path, `"${value}" must be a host name or IP address`);
}

function lengthRules(r: Rules, length: number, unit: string, path: string, report: Report): void {
  if (typeof r["len"] === "number" && length !== r["len"]) report(path, `must be exactly ${r["len"]} ${unit} long`);
  if (typeof r["min_len"] === "number" && length < r["min_len"]) report(path, `must be at least ${r["min_len"]} ${unit} long`);
  if (typeof r["max_len"] === "number" && length > r["max_len"]) report(path, `must be at most ${r["max_len"]} ${unit} long`);
}

function enumRules(r: Rules, value: number, defined: readonly number[] | undefined, path: string, report: Report): void {
  if (r["defined_only"] === true && defined && !defined.includes(value)) report(path, `${value} is not a defined enum value`);
  if (typeof r["const"] === "number" && value !== r["const"]) report(path, `must be enum value ${r["const"]}`);
  const within = list(r["in"]);
  if (within.length > 0 && !within.includes(value)) report(path, `enum value ${value} is not allowed here`);
  if (list(r["not_in"]).includes(value)) report(path, `enum value ${value} is not allowed here`);
}

interface NumberArgs<T extends number | bigint> {
  r: Rules;
  value: T;
  convert: (raw: unknown) => T;
  show: (value: T) => string;
  path: string;
  report: Report;
}

function numberRules<T extends number | bigint>({ r, value, convert, show: shown, path, report }: NumberArgs<T>): void {
  if (r["ignore_empty"] === true && (value === 0 || value === 0n)) return;
  const bound = (name: string): T | undefined => (r[name] === undefined ? undefined : convert(r[name]));
  const [gt, gte, lt, lte, exact] = [bound("gt"), bound("gte"), bound("lt"), bound("lte"), bound("const")];
  if (exact !== undefined && value !== exact) report(path, `must be ${shown(exact)}`);
  const lower = gt ?? gte;
  const upper = lt ?? lte;
  const lowerOk = gt !== undefined ? value > gt : gte !== undefined ? value >= gte : true;
  const upperOk = lt !== undefined ? value < lt : lte !== undefined ? value <= lte : true;
  // pgv: when the lower bound is above the upper one, the range is exclusive (value must lie outside).
  const okRange = lower !== undefined && upper !== undefined && lower > upper ? lowerOk || upperOk : lowerOk && upperOk;
  if (!okRange) {
    const parts = [gt !== undefined && `> ${shown(gt)}`, gte !== undefined && `>= ${shown(gte)}`, lt !== undefined && `< ${shown(lt)}`, lte !== undefined && `<= ${shown(lte)}`];
    report(path, `${shown(value)} must be ${parts.filter(Boolean).join(" and ")}`);
  }
  const within = list(r["in"]).map(convert);
  if (within.length > 0 && !within.includes(value)) report(path, `${shown(value)} is not one of the allowed values`);
  if (list(r["not_in"]).map(convert).includes(value)) report(path, `${shown(value)} is not allowed`);
}

function anyRules(r: Rules, typeUrl: unknown, path: string, report: Report): void {
  const within = list(r["in"]);
  if (within.length > 0 && !within.includes(typeUrl)) report(path, `@type ${String(typeUrl)} is not allowed here`);
  if (list(r["not_in"]).includes(typeUrl)) report(path, `@type ${String(typeUrl)} is not allowed here`);
}

function repeatedRules(r: Rules, items: RuleValue[], args: CheckArgs): void {
  const { path, report } = args;
  if (r["ignore_empty"] === true && items.length === 0) return;
  if (typeof r["min_items"] === "number" && items.length < r["min_items"]) report(path, `needs at least ${r["min_items"]} item(s), has ${items.length}`);
  if (typeof r["max_items"] === "number" && items.length > r["max_items"]) report(path, `allows at most ${r["max_items"]} item(s), has ${items.length}`);
  if (r["unique"] === true) {
    const seen = new Set(items.map((v) => (typeof v === "object" && !Buffer.isBuffer(v) ? JSON.stringify(v) : String(v))));
    if (seen.size !== items.length) report(path, "items must be unique");
  }
  const itemRules = asRules(r["items"]);
  if (itemRules) items.forEach((item, i) => checkValue({ ...args, rules: itemRules, value: item, path: `${path}[${i}]` }));
}

function mapRules(r: Rules, entries: [RuleValue, RuleValue][], args: CheckArgs): void {
  const { path, report } = args;
  if (r["ignore_empty"] === true && entries.length === 0) return;
  if (typeof r["min_pairs"] === "number" && entries.length < r["min_pairs"]) report(path, `needs at least ${r["min_pairs"]} entries`);
  if (typeof r["max_pairs"] === "number" && entries.length > r["max_pairs"]) report(path, `allows at most ${r["max_pairs"]} entries`);
  const keyRules = asRules(r["keys"]);
  const valueRules = asRules(r["values"]);
  for (const [key, value] of entries) {
    if (keyRules) checkValue({ ...args, rules: keyRules, value: key, path: `${path}.${String(key)} (key)`, defined: undefined });
    if (valueRules) checkValue({ ...args, rules: valueRules, value, path: `${path}.${String(key)}` });
  }
}

function list(raw: unknown): unknown[] {
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw : [raw];
}

function toBig(raw: unknown): bigint {
  if (typeof raw === "bigint") return raw;
  if (typeof raw === "number") return BigInt(Math.trunc(raw));
  return BigInt(String(raw));
}

function showNanos(nanos: bigint): string {
  return `${Number(nanos) / 1e9}s`;
}

/** Duration bounds in the options look like {seconds: 1, nanos: 5} ({} is zero). */
function durationNanos(raw: unknown): bigint {
  const d = asRules(raw) ?? {};
  return toBig(d["seconds"] ?? 0) * 1_000_000_000n + toBig(d["nanos"] ?? 0);
}
