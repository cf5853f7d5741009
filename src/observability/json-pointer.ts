import { isPlainObject } from "../json.js";

type Obj = Record<string, unknown>;

/** A JSON pointer's reference tokens, unescaped; undefined unless it starts with "/". */
export function pointerTokens(pointer: string): string[] | undefined {
  if (!pointer.startsWith("/")) return undefined;
  return pointer.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}


/** Removes the value at pointer, if present. */
export function erase(doc: Obj, pointer: string): void {
  const path = pointerTokens(pointer);
  if (!path || path.length === 0) return;
  let node: unknown = doc;
  for (const t of path.slice(0, -1)) {
    if (!isPlainObject(node)) return;
    node = node[t];
  }
  if (isPlainObject(node)) delete node[path[path.length - 1]!];
}

/** Sets the value at pointer, creating objects along the way. */
export function upsert(doc: Obj, pointer: string, value: unknown): void {
  const path = pointerTokens(pointer);
  if (!path || path.length === 0) return;
  let node: Obj = doc;
  for (const t of path.slice(0, -1)) {
    const next = node[t];
    if (isPlainObject(next)) node = next;
    else {
      const created: Obj = {};
      node[t] = created;
      node = created;
    }
  }
  node[path[path.length - 1]!] = value;
}
