import { erase, pointerTokens, upsert } from "./json-pointer.js";
import { isPlainObject } from "../json.js";

type Obj = Record<string, unknown>;

export interface MaskRule {
  op: "remove" | "upsert";
  path: string;
  value?: unknown;
}

export type MaskOutcome = { ok: true; erased: string[]; masked: string[] } | { ok: false; reason: string };

/** The event parts OPA lets a mask rule touch. */
const PARTS = new Set(["input", "result", "nd_builtin_cache"]);


/** Rules are checked to be slash-prefixed before their tokens are read. */
function tokens(pointer: string): string[] {
  return pointerTokens(pointer) ?? [];
}

/** Reads data.system.log.mask's value as OPA does: a set of pointer strings or {op, path, value} objects; one bad rule rejects them all. */
export function parseMaskRules(resultSet: unknown): MaskRule[] | string {
  if (resultSet === undefined || resultSet === null) return [];
  if (!Array.isArray(resultSet)) return "mask result set is not an array";
  if (resultSet.length === 0) return [];
  const value: unknown = isPlainObject(resultSet[0]) ? resultSet[0]["result"] : undefined;
  if (value === undefined) return [];
  if (!Array.isArray(value)) return `mask rules must be a set or array, got ${typeof value}`;
  const rules: MaskRule[] = [];
  for (const raw of value) {
    let rule: MaskRule;
    if (typeof raw === "string") rule = { op: "remove", path: raw };
    else if (isPlainObject(raw)) {
      const op = raw["op"] ?? "remove";
      if (op !== "remove" && op !== "upsert") return `mask op is not supported: ${JSON.stringify(op)}`;
      if (typeof raw["path"] !== "string") return `mask rule path must be a string: ${JSON.stringify(raw)}`;
      rule = op === "upsert" ? { op, path: raw["path"], value: raw["value"] } : { op, path: raw["path"] };
    } else return `invalid mask rule format: ${JSON.stringify(raw)}`;
    if (rule.path === "") return "mask must be non-empty";
    if (!rule.path.startsWith("/")) return `mask must be slash-prefixed: ${rule.path}`;
    const part = tokens(rule.path)[0]!;
    if (!PARTS.has(part)) return `mask prefix not allowed: ${part}`;
    rules.push(rule);
  }
  return rules;
}

type Walk = { kind: "found"; parent: Obj; key: string } | { kind: "missing" } | { kind: "blocked" } | { kind: "array" };

/** Follows a pointer to its parent object. "array": an array lies on the path, which erase/upsert cannot address. */
function walk(event: Obj, path: string[], createMissing: boolean): Walk {
  let node: unknown = event;
  for (const t of path.slice(0, -1)) {
    if (Array.isArray(node)) return { kind: "array" };
    if (!isPlainObject(node)) return { kind: "blocked" };
    const next = node[t];
    if (next === undefined && createMissing) return { kind: "found", parent: node, key: path[path.length - 1]! };
    node = next;
  }
  if (Array.isArray(node)) return { kind: "array" };
  if (!isPlainObject(node)) return node === undefined ? { kind: "missing" } : { kind: "blocked" };
  return { kind: "found", parent: node, key: path[path.length - 1]! };
}

/**
 * Applies OPA mask rules to an event, recording `erased` and `masked` the way OPA does (only rules
 * that took effect). A rule whose path crosses an array fails the whole mask: the pointers address
 * object keys only, and skipping the rule could leak what it was meant to hide. Used for both the
 * decision lines tollgate logs and the events it uploads.
 */
export function applyMaskRules(event: Obj, rules: readonly MaskRule[]): MaskOutcome {
  const erased: string[] = [];
  const masked: string[] = [];
  for (const rule of rules) {
    const path = tokens(rule.path);
    const part = event[path[0]!];
    if (part === undefined) continue;
    if (rule.op === "remove") {
      const w = walk(event, path, false);
      if (w.kind === "array") return { ok: false, reason: `mask rule ${rule.path} crosses an array, which is not supported` };
      if (w.kind !== "found" || !(w.key in w.parent)) continue;
      erase(event, rule.path);
      erased.push(rule.path);
    } else {
      if (path.length > 1 && !isPlainObject(part)) continue;
      const w = walk(event, path, true);
      if (w.kind === "array") return { ok: false, reason: `mask rule ${rule.path} crosses an array, which is not supported` };
      if (w.kind !== "found") continue;
      upsert(event, rule.path, rule.value);
      masked.push(rule.path);
    }
  }
  return { ok: true, erased, masked };
}

/** data.system.log.drop is a boolean rule: the event is dropped only when it is exactly true. */
export function dropRequested(resultSet: unknown): boolean {
  return Array.isArray(resultSet) && resultSet.length === 1 && isPlainObject(resultSet[0]) && resultSet[0]["result"] === true;
}
