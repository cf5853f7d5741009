import { readOllamaChat, readOllamaGenerate, readOllamaLegacyEmbedding } from "../content/ollama.js";
import { readEmbeddingInput } from "../content/openai-text.js";
import type { BodyShape, ProviderSpec } from "../types.js";
import { bearerAuth } from "./openai.js";

const NUM_PREDICT = [["options", "num_predict"]] as const;

/** Ollama streams unless the body says `"stream": false`. */
const CHAT: BodyShape = {
  model: [["model"]],
  stream: { path: ["stream"], absent: true },
  maxOutputTokens: NUM_PREDICT,
  negativeCapIsUnbounded: true,
  required: [["model"]],
  signature: ["messages"],
  content: readOllamaChat,
  chatFraming: true,
};

const GENERATE: BodyShape = { ...CHAT, signature: ["prompt"], content: readOllamaGenerate };

const EMBED: BodyShape = {
  model: [["model"]],
  maxOutputTokens: [],
  required: [["model"], ["input"]],
  signature: ["input"],
  content: readEmbeddingInput,
  chatFraming: false,
};

const LEGACY_EMBED: BodyShape = { ...EMBED, required: [["model"], ["prompt"]], signature: ["prompt"], content: readOllamaLegacyEmbedding };

/** Ollama answers every error as `{"error": "<message>"}`. */
function ollamaErrorBody(_status: number, message: string): unknown {
  return { error: message };
}

export const OLLAMA: ProviderSpec = {
  id: "ollama",
  hosts: ["ollama.com"],
  versionBases: ["/api"],
  routes: [
    { pattern: "/api/chat", operation: "chat", body: CHAT },
    { pattern: "/api/generate", operation: "completion", body: GENERATE },
    { pattern: "/api/embed", operation: "embedding", body: EMBED },
    { pattern: "/api/embeddings", operation: "embedding", body: LEGACY_EMBED },
  ],
  // A local Ollama needs no key; ollama.com and authenticating proxies take a Bearer token.
  clientKeyHeaders: ["authorization"],
  clientKeyQueryParams: [],
  upstreamAuth: bearerAuth,
  errorBody: ollamaErrorBody,
  // Llama-3-style vocabularies extend cl100k; its counts are the conservative guess.
  tokenProfile: () => "cl100k",
};
