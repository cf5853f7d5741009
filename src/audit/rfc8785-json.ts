import { TollgateError } from "../errors.js";

/**
 * Serialises a JSON value as RFC 8785 (JCS) does: object keys sorted by UTF-16 code unit, strings
 * and numbers as ECMAScript's JSON.stringify writes them, no whitespace, so one value has exactly
 * one text. Anything JSON cannot hold throws.
 */
export function rfc8785Json(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, 0);
  return parts.join("");
}

const MAX_DEPTH = 32;

function write(value: unknown, out: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw new TollgateError("internal_error", `canonical JSON: nesting deeper than ${MAX_DEPTH}`);
  if (value === null || typeof value === "boolean") {
    out.push(String(value));
  } else if (typeof value === "string") {
    out.push(JSON.stringify(value));
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TollgateError("internal_error", `canonical JSON: ${value} is not a JSON number`);
    out.push(JSON.stringify(value));
  } else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      write(item, out, depth + 1);
    });
    out.push("]");
  } else if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out.push("{");
    entries.forEach(([k, v], i) => {
      if (i > 0) out.push(",");
      out.push(JSON.stringify(k), ":");
      write(v, out, depth + 1);
    });
    out.push("}");
  } else {
    throw new TollgateError("internal_error", `canonical JSON: cannot encode a ${value === undefined ? "undefined" : typeof value} value`);
  }
}
