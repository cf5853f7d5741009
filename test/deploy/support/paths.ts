import { TollgateError } from "../../../src/errors.js";

/**
 * Reaches into parsed YAML by a path like "static_resources.clusters[0].health_checks[0]" so
 * tests can make broken copies. Throws when the path does not exist: that is a test bug,
 * not a config problem.
 */
export function at(root: unknown, path: string): Record<string, unknown> {
  let node: unknown = root;
  for (const step of path === "" ? [] : path.split(/\.|(?=\[)/)) {
    const index = /^\[(\d+)\]$/.exec(step);
    if (index) {
      if (!Array.isArray(node)) throw new TollgateError("internal_error", `test path ${path}: ${step} applied to a non-list`);
      node = node[Number(index[1])];
    } else {
      if (typeof node !== "object" || node === null || Array.isArray(node)) throw new TollgateError("internal_error", `test path ${path}: ${step} applied to a non-object`);
      node = (node as Record<string, unknown>)[step];
    }
  }
  if (typeof node !== "object" || node === null || Array.isArray(node)) throw new TollgateError("internal_error", `test path ${path} is not an object`);
  return node as Record<string, unknown>;
}

/** Like at(), for a list. */
export function listAt(root: unknown, path: string): unknown[] {
  const dot = path.lastIndexOf(".");
  const parent = dot === -1 ? (root as Record<string, unknown>) : at(root, path.slice(0, dot));
  const list = parent[path.slice(dot + 1)];
  if (!Array.isArray(list)) throw new TollgateError("internal_error", `test path ${path} is not a list`);
  return list;
}
