import { hostMatches, matchPattern, normalizeHost, splitPath, stripPrefix } from "../path-match.js";
import type { LlmSettings, ProviderId, ProviderSpec, RouteSpec } from "../types.js";
import { ANTHROPIC } from "./anthropic.js";
import { AZURE_OPENAI } from "./azure-openai.js";
import { GEMINI } from "./gemini.js";
import { MISTRAL } from "./mistral.js";
import { OLLAMA } from "./ollama.js";
import { OPENAI } from "./openai.js";

export const PROVIDERS: Readonly<Record<ProviderId, ProviderSpec>> = {
  openai: OPENAI,
  azure_openai: AZURE_OPENAI,
  anthropic: ANTHROPIC,
  mistral: MISTRAL,
  gemini: GEMINI,
  ollama: OLLAMA,
};

/** Path-only detection order: providers with unambiguous paths first, OpenAI's generic paths last. */
const PATH_DETECTION_ORDER: readonly ProviderSpec[] = [AZURE_OPENAI, ANTHROPIC, GEMINI, OLLAMA, OPENAI];

export interface RouteMatch {
  spec: ProviderSpec;
  route: RouteSpec;
  /** Captured path parts: `deployment` (Azure), `model` (Gemini). */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
}

function matchIn(spec: ProviderSpec, pathname: string, allowHostOnly: boolean): Omit<RouteMatch, "query"> | undefined {
  for (const route of spec.routes) {
    if (route.hostOnly && !allowHostOnly) continue;
    const params = matchPattern(route.pattern, pathname);
    if (params) return { spec, route, params };
  }
  return undefined;
}

/** After a configured prefix the rest may keep the provider's version base or leave it out. */
function matchAfterPrefix(spec: ProviderSpec, rest: string): Omit<RouteMatch, "query"> | undefined {
  const direct = matchIn(spec, rest, true);
  if (direct) return direct;
  for (const base of spec.versionBases) {
    const hit = matchIn(spec, base + (rest === "/" ? "" : rest), true);
    if (hit) return hit;
  }
  return undefined;
}

function byPrefix(pathname: string, settings: LlmSettings | undefined): Omit<RouteMatch, "query"> | undefined {
  const prefixes = Object.entries(settings?.pathPrefixes ?? {}).sort(([a], [b]) => b.length - a.length);
  for (const [prefix, id] of prefixes) {
    const rest = stripPrefix(pathname, prefix);
    const hit = rest === undefined ? undefined : matchAfterPrefix(PROVIDERS[id], rest);
    if (hit) return hit;
  }
  return undefined;
}

function byHost(pathname: string, host: string | undefined, settings: LlmSettings | undefined): Omit<RouteMatch, "query"> | undefined {
  if (host === undefined) return undefined;
  for (const [pattern, id] of Object.entries(settings?.hosts ?? {})) {
    if (!hostMatches(host, pattern)) continue;
    const hit = matchIn(PROVIDERS[id], pathname, true);
    if (hit) return hit;
  }
  for (const spec of Object.values(PROVIDERS)) {
    if (!spec.hosts.some((pattern) => hostMatches(host, pattern))) continue;
    const hit = matchIn(spec, pathname, true);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Finds the provider and route of a request: configured path prefixes first, then the host
 * (configured, then built-in), then paths that identify a provider by themselves. A step that
 * names a provider whose routes do not fit the path falls through to the next.
 */
export function matchLlmRoute(options: { path: string; host?: string; settings?: LlmSettings }): RouteMatch | undefined {
  const { pathname, query } = splitPath(options.path);
  const host = normalizeHost(options.host);
  const hit =
    byPrefix(pathname, options.settings) ??
    byHost(pathname, host, options.settings) ??
    PATH_DETECTION_ORDER.reduce<Omit<RouteMatch, "query"> | undefined>((found, spec) => found ?? matchIn(spec, pathname, false), undefined);
  return hit ? { ...hit, query } : undefined;
}
