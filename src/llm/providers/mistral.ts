import { readOpenAiCompletion } from "../content/openai-text.js";
import type { BodyShape, ProviderSpec } from "../types.js";
import { bearerAuth, OPENAI_CHAT, OPENAI_EMBEDDING } from "./openai.js";

const CHAT: BodyShape = { ...OPENAI_CHAT, maxOutputTokens: [["max_tokens"]] };

const FIM: BodyShape = {
  model: [["model"]],
  stream: { path: ["stream"], absent: false },
  maxOutputTokens: [["max_tokens"]],
  required: [["model"], ["prompt"]],
  signature: ["prompt"],
  content: readOpenAiCompletion,
  chatFraming: false,
};

/** Agents name an agent_id instead of a model. */
const AGENT: BodyShape = { ...CHAT, required: [["messages"]] };

/**
 * Mistral answers errors with a flat `{"object":"error","message","type","param","code"}`;
 * its 429s use type `rate_limited`.
 */
function mistralErrorBody(status: number, message: string): unknown {
  const type = status === 429 ? "rate_limited" : status >= 500 ? "internal_server_error" : "invalid_request_error";
  return { object: "error", message, type, param: null, code: null };
}

/**
 * Mistral's API is OpenAI-compatible, so its paths cannot identify it: it is recognised by the
 * host (`*.mistral.ai`) or a host/prefix setting; otherwise the same request reports as `openai`.
 */
export const MISTRAL: ProviderSpec = {
  id: "mistral",
  hosts: ["mistral.ai", "*.mistral.ai"],
  versionBases: ["/v1"],
  routes: [
    { pattern: "/v1/chat/completions", operation: "chat", hostOnly: true, body: CHAT },
    { pattern: "/v1/fim/completions", operation: "completion", hostOnly: true, body: FIM },
    { pattern: "/v1/agents/completions", operation: "chat", hostOnly: true, body: AGENT },
    { pattern: "/v1/embeddings", operation: "embedding", hostOnly: true, body: OPENAI_EMBEDDING },
  ],
  clientKeyHeaders: ["authorization"],
  clientKeyQueryParams: [],
  upstreamAuth: bearerAuth,
  errorBody: mistralErrorBody,
  // Tekken (131k vocabulary) is closer to o200k than to cl100k on multilingual text.
  tokenProfile: () => "o200k",
};
