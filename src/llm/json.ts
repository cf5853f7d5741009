import { isPlainObject } from "../json.js";
import type { FieldPath } from "./types.js";

export type JsonObject = Readonly<Record<string, unknown>>;

export const isObject: (value: unknown) => value is JsonObject = isPlainObject;

/** Value at `path`, or undefined when any step is missing or not an object. */
export function getPath(body: JsonObject, path: FieldPath): unknown {
  let current: unknown = body;
  for (const key of path) {
    if (!isObject(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

export function describePath(path: FieldPath): string {
  return path.join(".");
}

/** Short description of a JSON value's type for error messages. */
export function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
