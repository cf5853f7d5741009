import { getPath, isObject } from "./json.js";
import { PROVIDERS, matchLlmRoute, type RouteMatch } from "./providers/registry.js";
import { estimateSinkTokens, readBody } from "./read-body.js";
import type { LlmInput, LlmInputError, LlmSettings, ProviderId, RouteSpec } from "./types.js";

export interface BuildLlmInputOptions {
  method: string;
  /** Envoy's `:path`, query string included. */
  path: string;
  /** Request headers (lower-case names, as Envoy sends them). */
  headers: Readonly<Record<string, string | undefined>>;
  /** The already-parsed JSON body; null/undefined when there was none or it did not parse. */
  body: unknown;
  /** Envoy cut the body at max_request_bytes. */
  truncated: boolean;
  /** Host when known separately (CheckRequest http.host); else `:authority`/`host` headers. */
  host?: string;
  settings?: LlmSettings;
}

function firstError(truncated: boolean, body: unknown, issues: readonly string[]): LlmInputError | undefined {
  if (truncated) {
    return { code: "body_truncated", message: "request body was cut at the proxy's size limit; model, limits and the estimate may be missing or low" };
  }
  if (body === undefined || body === null) return { code: "body_missing", message: "request has no JSON body" };
  if (typeof body === "string") return { code: "body_not_json", message: "request body is not JSON" };
  if (!isObject(body)) return { code: "schema_mismatch", message: "request body must be a JSON object" };
  const [issue] = issues;
  return issue === undefined ? undefined : { code: "schema_mismatch", message: issue };
}

/** An LLM request's facts, and the prompt text its body holds (read in the same pass). */
export interface LlmRequest {
  llm: LlmInput;
  texts: string[];
}

function fromMatch(match: RouteMatch, options: BuildLlmInputOptions): LlmRequest {
  const { spec, route, params } = match;
  const shape = route.body;
  const pathModel = params.model ?? params.deployment ?? null;
  const base: LlmInput = {
    provider: spec.id,
    operation: route.operation,
    model: pathModel,
    stream: route.stream ?? shape.stream?.absent ?? false,
    max_output_tokens: null,
    estimated_input_tokens: 0,
    message_count: 0,
    has_tools: false,
    has_images: false,
    truncated: options.truncated === true,
  };
  const body = options.body;
  let issues: readonly string[] = [];
  let texts: string[] = [];
  if (isObject(body)) {
    const facts = readBody(body, shape);
    base.model = facts.model ?? pathModel;
    base.stream = route.stream ?? facts.stream ?? false;
    base.max_output_tokens = facts.maxOutputTokens;
    base.estimated_input_tokens = estimateSinkTokens(facts.sink, spec.tokenProfile(base.model), shape.chatFraming);
    base.message_count = facts.sink.messageCount;
    base.has_tools = facts.sink.hasTools;
    base.has_images = facts.sink.hasImages;
    issues = facts.sink.issues;
    texts = facts.sink.texts;
  }
  const error = firstError(base.truncated, body, issues);
  return error ? { llm: { ...base, error }, texts: [] } : { llm: base, texts };
}

function hostOf(options: BuildLlmInputOptions): string | undefined {
  const headers = isObject(options.headers) ? options.headers : {};
  const host = options.host ?? headers[":authority"] ?? headers.host;
  return typeof host === "string" ? host : undefined;
}

/**
 * Derives `input.llm` for a request to a known LLM API, or undefined for anything else. Never
 * throws: a body that does not fit the provider's schema yields `error` instead.
 */
export function buildLlmInput(options: BuildLlmInputOptions): LlmInput | undefined {
  return readLlmRequest(options)?.llm;
}

/**
 * buildLlmInput plus the body's prompt text, from one read of the body with the matched route's
 * schema; the texts are [] when the body has an error.
 */
export function readLlmRequest(options: BuildLlmInputOptions): LlmRequest | undefined {
  if (typeof options.method !== "string" || options.method.toUpperCase() !== "POST") return undefined;
  if (typeof options.path !== "string") return undefined;
  let match: RouteMatch | undefined;
  try {
    match = matchLlmRoute({ path: options.path, host: hostOf(options), settings: options.settings });
  } catch {
    return undefined;
  }
  if (!match) return undefined;
  try {
    return fromMatch(match, options);
  } catch (err: unknown) {
    // Only pathological input (e.g. nesting deep enough to exhaust the stack) gets here.
    const message = err instanceof Error ? err.message : String(err);
    const llm: LlmInput = {
      provider: match.spec.id,
      operation: match.route.operation,
      model: null,
      stream: false,
      max_output_tokens: null,
      estimated_input_tokens: 0,
      message_count: 0,
      has_tools: false,
      has_images: false,
      truncated: options.truncated === true,
      error: { code: "schema_mismatch", message: `request body could not be read: ${message}` },
    };
    return { llm, texts: [] };
  }
}

function routeFor(llm: LlmInput | ProviderId, body: Readonly<Record<string, unknown>>): RouteSpec | undefined {
  if (typeof llm === "string") {
    const spec = PROVIDERS[llm];
    return spec?.routes.find((route) => getPath(body, route.body.signature) !== undefined);
  }
  return PROVIDERS[llm.provider]?.routes.find((route) => route.operation === llm.operation);
}

/**
 * The prompt text of a body (system prompt, message text, tool results) for a prompt guard to
 * scan, bounded like the estimate. Pass the request's `input.llm` for an exact schema, or just a
 * provider id to pick the schema from the body's fields. Returns [] for unreadable bodies.
 */
export function extractPromptTexts(llm: LlmInput | ProviderId, body: unknown): string[] {
  if (!isObject(body)) return [];
  try {
    const route = routeFor(llm, body);
    if (!route) return [];
    return readBody(body, route.body).sink.texts;
  } catch {
    return [];
  }
}
