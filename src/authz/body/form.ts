import { parseQuery } from "../path.js";

/** application/x-www-form-urlencoded → {field: [values]}. */
export function parseForm(body: string): Record<string, string[]> {
  return parseQuery(body);
}
