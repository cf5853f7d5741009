import { TollgateError } from "../../../errors.js";

/** A JSON value as opa-wasm hands it to a host built-in (sets arrive as arrays). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A host built-in: JSON arguments in, a JSON-serialisable result (bigint for exact integers) or undefined out. */
export type BuiltinImpl = (...args: JsonValue[]) => unknown;

/** The error a built-in raises; like OPA's non-strict mode, the wrapper turns it into an undefined result. */
export function builtinError(name: string, message: string, cause?: unknown): TollgateError {
  return new TollgateError("policy_eval_error", `${name}: ${message}`, cause === undefined ? undefined : { cause });
}

function typeName(value: JsonValue | undefined): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "boolean") return "boolean";
  return typeof value;
}

function operandError(name: string, position: number, value: JsonValue | undefined, want: string): TollgateError {
  return builtinError(name, `operand ${position} must be ${want} but got ${typeName(value)}`);
}

export function stringOperand(name: string, value: JsonValue | undefined, position: number): string {
  if (typeof value !== "string") throw operandError(name, position, value, "string");
  return value;
}

export function numberOperand(name: string, value: JsonValue | undefined, position: number): number {
  if (typeof value !== "number") throw operandError(name, position, value, "number");
  return value;
}

/** Like OPA's IntOperand: a number without a fractional part. */
export function intOperand(name: string, value: JsonValue | undefined, position: number): number {
  const n = numberOperand(name, value, position);
  if (!Number.isInteger(n)) throw builtinError(name, `operand ${position} must be integer number but got floating-point number`);
  return n;
}

export function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Go strings are byte strings; a Rego string reaches a host built-in as UTF-8. */
export function utf8(value: string): Buffer {
  return Buffer.from(value, "utf8");
}
