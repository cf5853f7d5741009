import { TollgateError } from "../errors.js";

/**
 * OPA decodes .manifest, .signatures.json and the signature JWT payload with Go's encoding/json
 * into structs. These helpers read a parsed JSON object the same way: field names match
 * case-insensitively (the last matching key wins), null leaves the zero value, a wrong type is an error.
 */

export type Fields = Record<string, unknown>;

export function decodeError(what: string, message: string): TollgateError {
  return new TollgateError("policy_build_error", `${what}: ${message}`);
}

export function asStruct(value: unknown, what: string): Fields {
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw decodeError(what, "expected a JSON object");
  return value as Fields;
}

export function field(obj: Fields, name: string): unknown {
  let found: unknown = null;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(obj)) if (key.toLowerCase() === lower) found = value;
  return found;
}

export function stringField(obj: Fields, name: string, what: string): string {
  const value = field(obj, name);
  if (value === null) return "";
  if (typeof value !== "string") throw decodeError(what, `field ${name} must be a string`);
  return value;
}

export function intField(obj: Fields, name: string, what: string): number | undefined {
  const value = field(obj, name);
  if (value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw decodeError(what, `field ${name} must be an integer`);
  return value;
}

export function arrayField(obj: Fields, name: string, what: string): unknown[] | undefined {
  const value = field(obj, name);
  if (value === null) return undefined;
  if (!Array.isArray(value)) throw decodeError(what, `field ${name} must be an array`);
  return value;
}

export function parseJsonText(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8")) as unknown;
  } catch (err) {
    throw new TollgateError("policy_build_error", `${what}: invalid JSON (${(err as Error).message})`, { cause: err });
  }
}
