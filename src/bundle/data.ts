import { TollgateError } from "../errors.js";
import { isPlainObject } from "../json.js";

export type JsonObject = { [key: string]: unknown };

const isObject: (value: unknown) => value is JsonObject = isPlainObject;

function fail(message: string): TollgateError {
  return new TollgateError("policy_build_error", `bundle data: ${message}`);
}

/** The data path a data file sits at: its directory, as OPA's getNormalizedPath (leading "/" and "." trimmed). */
export function dataKeyOf(file: string): string[] {
  const slash = file.lastIndexOf("/");
  const dir = (slash === -1 ? "" : file.slice(0, slash)).replace(/^[/.]+/, "");
  return dir === "" ? [] : dir.split("/");
}

/** First conflicting path when merging b into a (both values must be objects to merge), in sorted key order as OPA reports it. */
function conflict(a: JsonObject, b: JsonObject): string[] | undefined {
  for (const key of Object.keys(b).sort()) {
    if (!Object.hasOwn(a, key)) continue;
    const existing = a[key];
    const added = b[key];
    if (!isObject(existing) || !isObject(added)) return [key];
    const inner = conflict(existing, added);
    if (inner) return [key, ...inner];
  }
  return undefined;
}

function mergeInto(a: JsonObject, b: JsonObject): void {
  for (const [key, added] of Object.entries(b)) {
    const existing = Object.hasOwn(a, key) ? a[key] : undefined; // never reach into a prototype ("__proto__" keys)
    if (isObject(existing) && isObject(added)) mergeInto(existing, added);
    else Object.defineProperty(a, key, { value: added, enumerable: true, writable: true, configurable: true });
  }
}

/**
 * Inserts one data file's value at its directory path and merges it with what is there, as
 * OPA's Bundle.insertData does: objects merge key by key; any other overlap is a conflict.
 * The value at the root must be an object.
 */
export function insertData(target: JsonObject, file: string, value: unknown): void {
  const key = dataKeyOf(file);
  let tree: unknown = value;
  for (let i = key.length - 1; i >= 0; i--) tree = Object.fromEntries([[key[i] as string, tree]]);
  if (!isObject(tree)) throw fail(`${file}: the root value must be an object`);
  const clash = conflict(target, tree);
  if (clash) throw fail(`${file} conflicts with other data at /${clash.join("/")}`);
  mergeInto(target, tree);
}

/** Depth-first walk over objects, OPA's dfs: fn returns true to stop descending. */
export function walkData(value: unknown, fn: (path: string, node: unknown) => boolean, path = ""): void {
  if (fn(path, value) || !isObject(value)) return;
  for (const [key, child] of Object.entries(value)) walkData(child, fn, `${path}/${key}`);
}

export { isObject };
