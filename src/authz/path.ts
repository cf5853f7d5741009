import { TollgateError } from "../errors.js";

export interface ParsedPath {
  parsedPath: string[];
  parsedQuery: Record<string, string[]>;
}

/**
 * Splits the request path the way opa-envoy-plugin does after the GHSA-9f29-v6mm-pw6w fix:
 * cut at the first "?", percent-decode, trim every leading "/", split on "/".
 * So "//admin/x" gives ["admin","x"] and cannot slip past a rule on parsed_path[0].
 */
export function parsePath(path: string): ParsedPath {
  const q = path.indexOf("?");
  const rawPath = q === -1 ? path : path.slice(0, q);
  const rawQuery = q === -1 ? "" : path.slice(q + 1);
  // Without a "%" there is nothing to decode (and nothing decodeURIComponent could reject).
  let decoded = rawPath;
  if (rawPath.includes("%")) {
    try {
      decoded = decodeURIComponent(rawPath);
    } catch (err) {
      throw new TollgateError("request_parse_error", `invalid percent-encoding in path`, { cause: err });
    }
  }
  let start = 0;
  while (start < decoded.length && decoded.charCodeAt(start) === 47) start++;
  return { parsedPath: decoded.slice(start).split("/"), parsedQuery: parseQuery(rawQuery) };
}

/** Query string → {key: [values]} like Go's url.ParseQuery ("+" is a space, repeated keys keep order). */
export function parseQuery(raw: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (raw === "") return out;
  for (const [k, v] of new URLSearchParams(raw)) {
    const list = out[k];
    if (list) list.push(v);
    else out[k] = [v];
  }
  return out;
}
