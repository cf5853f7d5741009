import type { LlmOperation, ProviderId } from "../../types.js";
import { ANTHROPIC_COUNT_TOKENS, ANTHROPIC_MESSAGES } from "./anthropic.js";
import { GEMINI_COUNT_TOKENS, GEMINI_EMBED, GEMINI_GENERATE } from "./gemini.js";
import { MISTRAL_CHAT, MISTRAL_EMBEDDING } from "./mistral.js";
import { OLLAMA_EMBEDDING, OLLAMA_GENERATE } from "./ollama.js";
import { OPENAI_CHAT, OPENAI_EMBEDDING, OPENAI_RESPONSES } from "./openai.js";
import type { UsageFormat } from "./types.js";

type Formats = Readonly<Partial<Record<LlmOperation, UsageFormat>>> & { chat: UsageFormat };

/** Azure OpenAI sends OpenAI's bodies and streams unchanged (its extra prompt_filter_results chunk has no usage). */
const OPENAI_FAMILY: Formats = { chat: OPENAI_CHAT, completion: OPENAI_CHAT, responses: OPENAI_RESPONSES, embedding: OPENAI_EMBEDDING };

const FORMATS: Readonly<Record<ProviderId, Formats>> = {
  openai: OPENAI_FAMILY,
  azure_openai: OPENAI_FAMILY,
  anthropic: { chat: ANTHROPIC_MESSAGES, completion: ANTHROPIC_MESSAGES, count_tokens: ANTHROPIC_COUNT_TOKENS },
  gemini: { chat: GEMINI_GENERATE, embedding: GEMINI_EMBED, count_tokens: GEMINI_COUNT_TOKENS },
  mistral: { chat: MISTRAL_CHAT, completion: MISTRAL_CHAT, embedding: MISTRAL_EMBEDDING },
  ollama: { chat: OLLAMA_GENERATE, completion: OLLAMA_GENERATE, embedding: OLLAMA_EMBEDDING },
};

/** The usage format of a provider operation; an operation it does not list reads as its chat format. */
export function usageFormat(provider: ProviderId, operation: string): UsageFormat {
  const formats = FORMATS[provider];
  return formats[operation as LlmOperation] ?? formats.chat;
}
