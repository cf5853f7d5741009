import { readOpenAiChat } from "../content/openai-chat.js";
import { readOpenAiResponses } from "../content/openai-responses.js";
import { readEmbeddingInput, readOpenAiCompletion } from "../content/openai-text.js";
import type { TokenProfile } from "../estimate-tokens.js";
import type { BodyShape, ProviderSpec } from "../types.js";

export const OPENAI_CHAT: BodyShape = {
  model: [["model"]],
  stream: { path: ["stream"], absent: false },
  // max_tokens is deprecated in favour of max_completion_tokens; the newer field wins.
  maxOutputTokens: [["max_completion_tokens"], ["max_tokens"]],
  required: [["model"], ["messages"]],
  signature: ["messages"],
  content: readOpenAiChat,
  chatFraming: true,
};

export const OPENAI_COMPLETION: BodyShape = {
  model: [["model"]],
  stream: { path: ["stream"], absent: false },
  maxOutputTokens: [["max_tokens"]],
  required: [["model"], ["prompt"]],
  signature: ["prompt"],
  content: readOpenAiCompletion,
  chatFraming: false,
};

export const OPENAI_EMBEDDING: BodyShape = {
  model: [["model"]],
  maxOutputTokens: [],
  required: [["model"], ["input"]],
  signature: ["input"],
  content: readEmbeddingInput,
  chatFraming: false,
};

export const OPENAI_RESPONSES: BodyShape = {
  model: [["model"]],
  stream: { path: ["stream"], absent: false },
  maxOutputTokens: [["max_output_tokens"]],
  required: [],
  signature: ["input"],
  content: readOpenAiResponses,
  chatFraming: true,
};

/** gpt-4 (not 4o/4.1/4.5), gpt-3.5 and the embedding models use cl100k_base; newer models o200k_base. */
export function openAiTokenProfile(model: string | null): TokenProfile {
  if (model === null) return "o200k";
  return /^(gpt-4(?![o.])|gpt-3\.5|gpt-35|text-embedding|davinci|babbage)/i.test(model) ? "cl100k" : "o200k";
}

/**
 * OpenAI's own error bodies: a 401 is `invalid_request_error` with code `invalid_api_key`, a 429
 * is type `requests` with code `rate_limit_exceeded`, a 403 is `request_forbidden`, 5xx `server_error`.
 */
export function openAiErrorBody(status: number, message: string): unknown {
  let type = "invalid_request_error";
  let code: string | null = null;
  if (status === 401) code = "invalid_api_key";
  else if (status === 403) type = "request_forbidden";
  else if (status === 429) {
    type = "requests";
    code = "rate_limit_exceeded";
  } else if (status >= 500) type = "server_error";
  return { error: { message, type, param: null, code } };
}

export function bearerAuth(secret: string): Record<string, string> {
  return { authorization: `Bearer ${secret}` };
}

export const OPENAI: ProviderSpec = {
  id: "openai",
  hosts: ["api.openai.com"],
  versionBases: ["/v1"],
  routes: [
    { pattern: "/v1/chat/completions", operation: "chat", body: OPENAI_CHAT },
    { pattern: "/v1/completions", operation: "completion", body: OPENAI_COMPLETION },
    { pattern: "/v1/responses", operation: "responses", body: OPENAI_RESPONSES },
    { pattern: "/v1/embeddings", operation: "embedding", body: OPENAI_EMBEDDING },
  ],
  clientKeyHeaders: ["authorization"],
  clientKeyQueryParams: [],
  upstreamAuth: bearerAuth,
  errorBody: openAiErrorBody,
  tokenProfile: openAiTokenProfile,
};
