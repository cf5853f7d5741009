/**
 * LLM-aware request facts for policies (`input.llm`), provider error bodies and upstream auth.
 *
 * A request is an LLM call when it is a POST whose path matches a provider route, found in this
 * order: a configured path prefix (`settings.pathPrefixes`, the rest of the path with or without
 * the provider's version base), the host (`settings.hosts`, then built-in hosts such as
 * `*.openai.azure.com` or `*.mistral.ai`), then paths that name a provider by themselves (Azure
 * deployments, Anthropic, Gemini, Ollama, and OpenAI last). OpenAI-compatible APIs (Mistral,
 * Ollama's /v1, vLLM, …) on an unknown host report as `openai`; name them with a host or prefix
 * setting.
 */
export { buildLlmInput, extractPromptTexts, readLlmRequest, type BuildLlmInputOptions, type LlmRequest } from "./build-llm-input.js";
export {
  CLIENT_KEY_HEADER_NAMES,
  CLIENT_KEY_QUERY_PARAMS,
  clientKeyHeaders,
  clientKeyQueryParams,
  providerAuthHeaders,
} from "./auth-headers.js";
export { llmErrorBody, type LlmErrorBody } from "./error-body.js";
export { estimateTextTokens, type TokenProfile } from "./estimate-tokens.js";
export { llmSettingsSchema, parseLlmSettings } from "../config/llm.js";
export { PROVIDERS, matchLlmRoute, type RouteMatch } from "./providers/registry.js";
export {
  PROVIDER_IDS,
  type LlmErrorCode,
  type LlmInput,
  type LlmInputError,
  type LlmOperation,
  type LlmSettings,
  type ProviderId,
} from "./types.js";
