import protobuf from "protobufjs";
import {
  SPECIAL_JSON,
  WRAPPERS,
  describe,
  isPlainObject,
  parseBytes,
  parseDuration,
  parseFloating,
  parseInteger,
  parseTimestamp,
  jsonName,
  type Parsed,
} from "./json-scalars.js";
import { checkFieldRules, checkOneofRules, type RuleValue } from "./pgv.js";

/** One problem, located by a path such as static_resources.clusters[0].connect_timeout. */
export interface Issue {
  path: string;
  message: string;
}

export interface DecodeOptions {
  root: protobuf.Root;
  /** Fully qualified message name, e.g. envoy.config.bootstrap.v3.Bootstrap. */
  typeName: string;
  value: unknown;
  /** Apply protoc-gen-validate rules (default true). */
  validateRules?: boolean;
}

/**
 * Decodes ProtoJSON (the form Envoy's YAML takes once parsed) into a message type and reports
 * everything Envoy's strict parser would reject - unknown fields, wrong JSON types, bad enum
 * names, unresolvable Any types - plus protoc-gen-validate violations and deprecated fields.
 * An empty list means the value is acceptable.
 */
export function decodeStrict(options: DecodeOptions): Issue[] {
  const type = options.root.lookupType(options.typeName);
  const decoder = new StrictDecoder(options.root, options.validateRules ?? true);
  decoder.message(type, options.value, "");
  return decoder.issues;
}

class StrictDecoder {
  readonly issues: Issue[] = [];
  private readonly fieldIndex = new Map<protobuf.Type, Map<string, protobuf.Field>>();

  constructor(
    private readonly root: protobuf.Root,
    private readonly validateRules: boolean,
  ) {}

  private report(path: string, message: string): void {
    this.issues.push({ path: path || "(root)", message });
  }

  private fieldsByKey(type: protobuf.Type): Map<string, protobuf.Field> {
    let index = this.fieldIndex.get(type);
    if (!index) {
      index = new Map();
      for (const field of type.fieldsArray) {
        index.set(field.name, field);
        index.set(jsonName(field), field);
      }
      this.fieldIndex.set(type, index);
    }
    return index;
  }

  /** Decodes a message; returns true when the JSON had the right overall shape. */
  message(type: protobuf.Type, raw: unknown, path: string, allowTypeKey = false): boolean {
    const full = type.fullName;
    if (full === ".google.protobuf.Any") return this.any(raw, path);
    if (SPECIAL_JSON.has(full)) return this.specialJson(full, raw, path);
    if (!isPlainObject(raw)) {
      this.report(path, `expected an object for ${full.slice(1)}, got ${describe(raw)}`);
      return false;
    }
    const present = new Map<string, unknown>();
    const index = this.fieldsByKey(type);
    for (const [key, value] of Object.entries(raw)) {
      const at = join(path, key);
      if (key === "@type" && allowTypeKey) continue;
      const field = index.get(key);
      if (!field) {
        const hint = key === "@type" ? " (\"@type\" belongs only inside a google.protobuf.Any)" : "";
        this.report(at, `unknown field "${key}" in ${full.slice(1)}${hint}`);
        continue;
      }
      if (present.has(field.name)) {
        this.report(at, `field "${field.name}" is given twice (as "${field.name}" and "${jsonName(field)}")`);
        continue;
      }
      // ProtoJSON null means "not set", except for google.protobuf.Value.
      if (value === null && field.type !== "google.protobuf.Value" && !field.repeated && !field.map) continue;
      if (field.options?.["deprecated"] === true) this.report(at, `field "${field.name}" is deprecated`);
      present.set(field.name, value);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.oneof.filter((name) => present.has(name));
      if (set.length > 1) this.report(path, `only one of ${set.join(", ")} may be set (oneof ${oneof.name})`);
      if (this.validateRules) checkOneofRules({ oneof, setCount: set.length, path, report: (p, m) => this.report(p, m) });
    }
    for (const field of type.fieldsArray) {
      const isSet = present.has(field.name);
      const at = join(path, field.name);
      const parsed = isSet ? this.field(field, present.get(field.name), at) : undefined;
      if (this.validateRules && parsed !== INVALID) {
        checkFieldRules({ field, isSet, value: parsed, path: at, report: (p, m) => this.report(p, m) });
      }
    }
    return true;
  }

  private field(field: protobuf.Field, raw: unknown, path: string): RuleValue | typeof INVALID {
    if (field.map) {
      if (!isPlainObject(raw)) {
        this.report(path, `expected a map (object), got ${describe(raw)}`);
        return INVALID;
      }
      const keyType = "keyType" in field && typeof field.keyType === "string" ? field.keyType : "string";
      const entries: [RuleValue, RuleValue][] = [];
      for (const [key, value] of Object.entries(raw)) {
        const parsedKey = this.mapKey(keyType, key, join(path, key));
        const parsedValue = this.single(field, value, join(path, key));
        if (parsedKey !== INVALID && parsedValue !== INVALID) entries.push([parsedKey, parsedValue]);
      }
      return { kind: "map", entries };
    }
    if (field.repeated) {
      if (raw === null) return { kind: "list", items: [] };
      if (!Array.isArray(raw)) {
        this.report(path, `expected a list, got ${describe(raw)}`);
        return INVALID;
      }
      const items: RuleValue[] = [];
      raw.forEach((item: unknown, i) => {
        const at = `${path}[${i}]`;
        if (item === null) return this.report(at, "list items cannot be null");
        const parsed = this.single(field, item, at);
        if (parsed !== INVALID) items.push(parsed);
      });
      return { kind: "list", items };
    }
    return this.single(field, raw, path);
  }

  private mapKey(keyType: string, key: string, path: string): RuleValue | typeof INVALID {
    if (keyType === "string") return key;
    if (keyType === "bool") {
      if (key === "true" || key === "false") return key === "true";
      this.report(path, `map key "${key}" is not a bool`);
      return INVALID;
    }
    return this.take(parseInteger(keyType, key), path);
  }

  private single(field: protobuf.Field, raw: unknown, path: string): RuleValue | typeof INVALID {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, raw, path);
    if (resolved instanceof protobuf.Type) {
      const full = resolved.fullName;
      if (!this.message(resolved, raw, path)) return INVALID;
      if (full === ".google.protobuf.Duration") {
        const nanos = parseDuration(raw);
        return nanos.ok ? { kind: "duration", nanos: nanos.value } : INVALID;
      }
      if (full === ".google.protobuf.Timestamp") return { kind: "timestamp" };
      if (full === ".google.protobuf.Any") return { kind: "any", typeUrl: isPlainObject(raw) ? raw["@type"] : undefined };
      const wrapped = WRAPPERS[full];
      if (wrapped) {
        const inner = this.scalar(wrapped, raw, path, true);
        return inner === INVALID ? INVALID : { kind: "wrapper", inner };
      }
      return { kind: "message" };
    }
    return this.scalar(field.type, raw, path);
  }

  private enumValue(type: protobuf.Enum, raw: unknown, path: string): RuleValue | typeof INVALID {
    if (type.fullName === ".google.protobuf.NullValue") {
      if (raw === null) return 0;
      this.report(path, `expected null, got ${describe(raw)}`);
      return INVALID;
    }
    if (typeof raw === "string") {
      const number = type.values[raw];
      if (number === undefined) {
        const names = Object.keys(type.values);
        this.report(path, `"${raw}" is not a value of enum ${type.fullName.slice(1)} (expected one of ${names.join(", ")})`);
        return INVALID;
      }
      if (type.valuesOptions?.[raw]?.["deprecated"] === true) this.report(path, `enum value ${raw} is deprecated`);
      return number;
    }
    if (typeof raw === "number") {
      const parsed = this.take(parseInteger("int32", raw), path);
      return parsed === INVALID ? INVALID : Number(parsed);
    }
    this.report(path, `expected an enum name of ${type.fullName.slice(1)}, got ${describe(raw)}`);
    return INVALID;
  }

  private scalar(kind: string, raw: unknown, path: string, silent = false): RuleValue | typeof INVALID {
    switch (kind) {
      case "string":
        // In a /u regex a surrogate code unit only matches when unpaired (not valid UTF-8).
        if (typeof raw === "string" && !/[\uD800-\uDFFF]/u.test(raw)) return raw;
        return this.fail(path, `expected a string, got ${describe(raw)}`, silent);
      case "bool":
        if (typeof raw === "boolean") return raw;
        return this.fail(path, `expected true or false, got ${describe(raw)}`, silent);
      case "bytes":
        return this.take(parseBytes(raw), path, silent);
      case "double":
      case "float":
        return this.take(parseFloating(kind, raw), path, silent);
      default:
        return this.take(parseInteger(kind, raw), path, silent);
    }
  }

  private any(raw: unknown, path: string): boolean {
    if (!isPlainObject(raw)) {
      this.report(path, `expected an object with "@type" (google.protobuf.Any), got ${describe(raw)}`);
      return false;
    }
    const typeUrl = raw["@type"];
    if (typeUrl === undefined && Object.keys(raw).length === 0) return true;
    if (typeof typeUrl !== "string") {
      this.report(path, `google.protobuf.Any needs a string "@type" (e.g. type.googleapis.com/<message name>)`);
      return false;
    }
    const name = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
    const target = typeUrl.includes("/") && name !== "" ? this.root.lookup(name) : null;
    if (!(target instanceof protobuf.Type)) {
      this.report(join(path, "@type"), `unresolvable @type "${typeUrl}" (not a message of the loaded Envoy API)`);
      return false;
    }
    if (SPECIAL_JSON.has(target.fullName)) {
      const extra = Object.keys(raw).filter((k) => k !== "@type" && k !== "value");
      if (extra.length > 0) this.report(path, `an Any holding ${name} takes only "@type" and "value"`);
      return this.message(target, raw["value"], join(path, "value"));
    }
    return this.message(target, raw, path, true);
  }

  private specialJson(full: string, raw: unknown, path: string): boolean {
    const wrapped = WRAPPERS[full];
    if (wrapped) return this.scalar(wrapped, raw, path) !== INVALID;
    switch (full) {
      case ".google.protobuf.Duration":
        return this.take(parseDuration(raw), path) !== INVALID;
      case ".google.protobuf.Timestamp":
        return this.take(parseTimestamp(raw), path) !== INVALID;
      case ".google.protobuf.FieldMask":
        return typeof raw === "string" || this.fail(path, `expected a field mask string, got ${describe(raw)}`) !== INVALID;
      case ".google.protobuf.Struct":
        if (isPlainObject(raw)) return Object.entries(raw).every(([k, v]) => this.jsonValue(v, join(path, k)));
        this.report(path, `expected an object (google.protobuf.Struct), got ${describe(raw)}`);
        return false;
      case ".google.protobuf.ListValue":
        if (Array.isArray(raw)) return raw.every((v: unknown, i) => this.jsonValue(v, `${path}[${i}]`));
        this.report(path, `expected a list (google.protobuf.ListValue), got ${describe(raw)}`);
        return false;
      default:
        return this.jsonValue(raw, path);
    }
  }

  /** google.protobuf.Value: any JSON value, but numbers must be finite. */
  private jsonValue(raw: unknown, path: string): boolean {
    if (raw === null || typeof raw === "string" || typeof raw === "boolean") return true;
    if (typeof raw === "number") return Number.isFinite(raw) || this.fail(path, "numbers in a Struct must be finite") !== INVALID;
    if (Array.isArray(raw)) return raw.every((v: unknown, i) => this.jsonValue(v, `${path}[${i}]`));
    if (isPlainObject(raw)) return Object.entries(raw).every(([k, v]) => this.jsonValue(v, join(path, k)));
    this.report(path, `not a JSON value: ${describe(raw)}`);
    return false;
  }

  private take<T>(parsed: Parsed<T>, path: string, silent = false): T | typeof INVALID {
    if (parsed.ok) return parsed.value;
    return this.fail(path, parsed.message, silent);
  }

  private fail(path: string, message: string, silent = false): typeof INVALID {
    if (!silent) this.report(path, message);
    return INVALID;
  }
}

const INVALID = Symbol("invalid");

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
