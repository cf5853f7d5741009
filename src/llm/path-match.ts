export interface CompiledPattern {
  regex: RegExp;
  params: readonly string[];
}

const cache = new Map<string, CompiledPattern>();

/** "/v1beta/models/{model}:generateContent" → anchored RegExp capturing `model`. */
export function compilePattern(pattern: string): CompiledPattern {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const params: string[] = [];
  const source = pattern
    .split(/(\{[a-z_]+\})/i)
    .map((piece) => {
      const param = /^\{([a-z_]+)\}$/i.exec(piece);
      if (!param) return piece.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      params.push(param[1] ?? "");
      return "([^/:]+)";
    })
    .join("");
  const compiled = { regex: new RegExp(`^${source}$`), params };
  cache.set(pattern, compiled);
  return compiled;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function matchPattern(pattern: string, path: string): Record<string, string> | undefined {
  const { regex, params } = compilePattern(pattern);
  const m = regex.exec(path);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  params.forEach((name, i) => {
    out[name] = safeDecode(m[i + 1] ?? "");
  });
  return out;
}

export interface SplitPath {
  /** Path without query or fragment, with `%3A` decoded to ":" and no trailing slash. */
  pathname: string;
  query: URLSearchParams;
}

/** Envoy's `:path` carries the query string; Gemini clients sometimes escape the method colon. */
export function splitPath(raw: string): SplitPath {
  const hash = raw.indexOf("#");
  const noHash = hash >= 0 ? raw.slice(0, hash) : raw;
  const q = noHash.indexOf("?");
  let pathname = (q >= 0 ? noHash.slice(0, q) : noHash).replace(/%3a/gi, ":");
  if (pathname.length > 1 && pathname.endsWith("/")) pathname = pathname.slice(0, -1);
  return { pathname, query: new URLSearchParams(q >= 0 ? noHash.slice(q + 1) : "") };
}

/** Lower-case host without port (handles "[::1]:8080"); undefined when empty. */
export function normalizeHost(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let host = raw.trim().toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    host = end > 0 ? host.slice(0, end + 1) : host;
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0 && host.indexOf(":", colon + 1) < 0) host = host.slice(0, colon);
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host === "" ? undefined : host;
}

/** Exact name, or "*.example.com" matching any subdomain of example.com (not the apex). */
export function hostMatches(host: string, pattern: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith("*.")) return host.endsWith(p.slice(1)) && host.length > p.length - 1;
  return host === p;
}

/** Whether `pathname` is `prefix` or continues it at a segment boundary; returns the rest. */
export function stripPrefix(pathname: string, prefix: string): string | undefined {
  const p = prefix.length > 1 && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  if (pathname === p) return "/";
  if (pathname.startsWith(p + "/")) return pathname.slice(p.length);
  return undefined;
}
