import { TollgateError } from "../errors.js";
import { PROVIDERS } from "./providers/registry.js";
import type { ProviderId } from "./types.js";

/** Every header any supported SDK sends its API key in; strip these before going upstream. */
export const CLIENT_KEY_HEADER_NAMES: readonly string[] = [
  ...new Set(Object.values(PROVIDERS).flatMap((spec) => spec.clientKeyHeaders)),
];

/** Query parameters that carry a client key (Gemini's `?key=`); strip these too. */
export const CLIENT_KEY_QUERY_PARAMS: readonly string[] = [
  ...new Set(Object.values(PROVIDERS).flatMap((spec) => spec.clientKeyQueryParams)),
];

function specOf(provider: ProviderId) {
  const spec = PROVIDERS[provider];
  if (!spec) throw new TollgateError("config_error", `unknown LLM provider ${JSON.stringify(provider)}`);
  return spec;
}

/** The headers `provider`'s SDK sends the caller's key in (lower-case). */
export function clientKeyHeaders(provider: ProviderId): readonly string[] {
  return specOf(provider).clientKeyHeaders;
}

/** The query parameters `provider`'s clients may put the caller's key in. */
export function clientKeyQueryParams(provider: ProviderId): readonly string[] {
  return specOf(provider).clientKeyQueryParams;
}

// Header values must not carry CR, LF or NUL (header injection) or other control characters.
const UNSAFE_HEADER_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * Headers that authenticate the request upstream with the real `secret` (lower-case names):
 * OpenAI/Mistral/Ollama `authorization: Bearer`, Azure `api-key`, Gemini `x-goog-api-key`,
 * Anthropic `x-api-key` plus `anthropic-version` when the client sent none.
 */
export function providerAuthHeaders(
  provider: ProviderId,
  secret: string,
  clientHeaders: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const spec = specOf(provider);
  if (typeof secret !== "string" || secret.trim() === "") {
    throw new TollgateError("secret_unavailable", `no upstream credential for ${provider}`);
  }
  if (UNSAFE_HEADER_VALUE.test(secret)) {
    throw new TollgateError("config_error", `upstream credential for ${provider} contains control characters`);
  }
  const lower: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(clientHeaders)) lower[name.toLowerCase()] = value;
  return spec.upstreamAuth(secret.trim(), lower);
}
