import type protobuf from "protobufjs";

/** Wrapper types: in JSON, the wrapped value itself. */
export const WRAPPERS: Readonly<Record<string, string>> = {
  ".google.protobuf.DoubleValue": "double",
  ".google.protobuf.FloatValue": "float",
  ".google.protobuf.Int64Value": "int64",
  ".google.protobuf.UInt64Value": "uint64",
  ".google.protobuf.Int32Value": "int32",
  ".google.protobuf.UInt32Value": "uint32",
  ".google.protobuf.BoolValue": "bool",
  ".google.protobuf.StringValue": "string",
  ".google.protobuf.BytesValue": "bytes",
};

/** Well-known types whose JSON form is not an object of fields (inside Any they sit under "value"). */
export const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  ".google.protobuf.Duration",
  ".google.protobuf.Timestamp",
  ".google.protobuf.Struct",
  ".google.protobuf.Value",
  ".google.protobuf.ListValue",
  ".google.protobuf.FieldMask",
]);

/** protoc's default JSON name: foo_bar_baz -> fooBarBaz. */
export function jsonName(field: protobuf.Field): string {
  const custom: unknown = field.options?.["json_name"];
  if (typeof custom === "string") return custom;
  return field.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * ProtoJSON scalar parsing (https://protobuf.dev/programming-guides/json/), as strict as the
 * C++ parser Envoy uses: each returns the parsed value or a message saying what is wrong.
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (message: string): Parsed<never> => ({ ok: false, message });

export const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/** Integers arrive as JSON numbers or as decimal strings (the usual form for 64-bit ones). */
export function parseInteger(kind: string, raw: unknown): Parsed<bigint> {
  const range = INT_RANGES[kind];
  if (!range) return bad(`not an integer type: ${kind}`);
  let value: bigint;
  if (typeof raw === "number") {
    if (!Number.isInteger(raw)) return bad(`expected an integer (${kind}), got ${raw}`);
    if (!Number.isSafeInteger(raw)) return bad(`${raw} loses precision as a JSON number; quote it`);
    value = BigInt(raw);
  } else if (typeof raw === "string") {
    if (!/^-?\d+$/.test(raw)) return bad(`expected an integer (${kind}), got "${raw}"`);
    value = BigInt(raw);
  } else {
    return bad(`expected an integer (${kind}), got ${describe(raw)}`);
  }
  if (value < range[0] || value > range[1]) return bad(`${value} is out of range for ${kind}`);
  return ok(value);
}

const FLOAT_MAX = 3.4028234663852886e38;

export function parseFloating(kind: "float" | "double", raw: unknown): Parsed<number> {
  let value: number;
  if (typeof raw === "number") value = raw;
  else if (raw === "NaN") value = Number.NaN;
  else if (raw === "Infinity") value = Number.POSITIVE_INFINITY;
  else if (raw === "-Infinity") value = Number.NEGATIVE_INFINITY;
  else if (typeof raw === "string" && raw.trim() !== "" && Number.isFinite(Number(raw))) value = Number(raw);
  else return bad(`expected a number (${kind}), got ${describe(raw)}`);
  if (kind === "float" && Number.isFinite(value) && Math.abs(value) > FLOAT_MAX) return bad(`${value} is out of range for float`);
  return ok(value);
}

export function parseBytes(raw: unknown): Parsed<Buffer> {
  if (typeof raw !== "string") return bad(`expected base64 bytes, got ${describe(raw)}`);
  const standard = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
  const urlSafe = /^(?:[A-Za-z0-9\-_]{4})*(?:[A-Za-z0-9\-_]{2}==|[A-Za-z0-9\-_]{3}=|[A-Za-z0-9\-_]{2,3})?$/;
  if (standard.test(raw)) return ok(Buffer.from(raw, "base64"));
  if (urlSafe.test(raw)) return ok(Buffer.from(raw, "base64url"));
  return bad("expected base64 bytes, got a string that is not base64");
}

const MAX_DURATION_SECONDS = 315_576_000_000n;

/** google.protobuf.Duration: "1.5s", "-0.25s", at most 9 fractional digits. Returns nanoseconds. */
export function parseDuration(raw: unknown): Parsed<bigint> {
  if (typeof raw !== "string") return bad(`expected a duration string such as "1.5s", got ${describe(raw)}`);
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(raw);
  if (!m) return bad(`"${raw}" is not a duration (expected seconds with an "s" suffix, e.g. "0.25s")`);
  const seconds = BigInt(m[2]!);
  if (seconds > MAX_DURATION_SECONDS) return bad(`duration "${raw}" is out of range`);
  const nanos = BigInt((m[3] ?? "").padEnd(9, "0") || "0");
  const total = seconds * 1_000_000_000n + nanos;
  return ok(m[1] ? -total : total);
}

/** google.protobuf.Timestamp: RFC 3339, years 0001-9999. Returns nanoseconds since the epoch. */
export function parseTimestamp(raw: unknown): Parsed<bigint> {
  if (typeof raw !== "string") return bad(`expected an RFC 3339 timestamp string, got ${describe(raw)}`);
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(raw);
  if (!m) return bad(`"${raw}" is not an RFC 3339 timestamp`);
  const millis = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]}`);
  if (Number.isNaN(millis) || m[1] === "0000") return bad(`"${raw}" is not a valid date and time`);
  return ok(BigInt(millis) * 1_000_000n + BigInt((m[7] ?? "").padEnd(9, "0") || "0"));
}

export function describe(raw: unknown): string {
  if (raw === null) return "null";
  if (Array.isArray(raw)) return "a list";
  if (typeof raw === "object") return "an object";
  if (typeof raw === "string") return `"${raw.length > 40 ? `${raw.slice(0, 40)}...` : raw}"`;
  return `${typeof raw} ${String(raw)}`;
}

export function isPlainObject(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === "object" && raw !== null && !Array.isArray(raw);
}
