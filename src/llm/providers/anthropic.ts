import { readAnthropicComplete, readAnthropicMessages } from "../content/anthropic-messages.js";
import type { BodyShape, ProviderSpec } from "../types.js";

const MESSAGES: BodyShape = {
  model: [["model"]],
  stream: { path: ["stream"], absent: false },
  maxOutputTokens: [["max_tokens"]],
  required: [["model"], ["messages"], ["max_tokens"]],
  signature: ["messages"],
  content: readAnthropicMessages,
  chatFraming: true,
};

const COUNT_TOKENS: BodyShape = { ...MESSAGES, stream: undefined, maxOutputTokens: [], required: [["model"], ["messages"]] };

const COMPLETE: BodyShape = {
  model: [["model"]],
  stream: { path: ["stream"], absent: false },
  maxOutputTokens: [["max_tokens_to_sample"]],
  required: [["model"], ["prompt"], ["max_tokens_to_sample"]],
  signature: ["prompt"],
  content: readAnthropicComplete,
  chatFraming: false,
};

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

/** Anthropic documents invalid_request_error for unlisted 4xx; api_error covers other 5xx. */
function anthropicErrorBody(status: number, message: string): unknown {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  return { type: "error", error: { type, message } };
}

export const ANTHROPIC_VERSION = "2023-06-01";

export const ANTHROPIC: ProviderSpec = {
  id: "anthropic",
  hosts: ["api.anthropic.com"],
  versionBases: ["/v1"],
  routes: [
    { pattern: "/v1/messages", operation: "chat", body: MESSAGES },
    { pattern: "/v1/messages/count_tokens", operation: "count_tokens", body: COUNT_TOKENS },
    { pattern: "/v1/complete", operation: "completion", body: COMPLETE },
  ],
  // The SDK sends api keys in x-api-key and OAuth/auth tokens as Authorization: Bearer.
  clientKeyHeaders: ["x-api-key", "authorization"],
  clientKeyQueryParams: [],
  upstreamAuth: (secret, clientHeaders) => {
    const headers: Record<string, string> = { "x-api-key": secret };
    const version = clientHeaders["anthropic-version"];
    if (version === undefined || version.trim() === "") headers["anthropic-version"] = ANTHROPIC_VERSION;
    return headers;
  },
  errorBody: anthropicErrorBody,
  // Claude's tokenizer is not public; cl100k's heavier counts for non-English text are the safer guess.
  tokenProfile: () => "cl100k",
};
