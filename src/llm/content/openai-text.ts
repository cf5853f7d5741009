import { jsonType } from "../json.js";
import type { ContentReader } from "../types.js";
import { eachCapped, type PromptSink } from "./sink.js";
import { readTextField } from "./tools.js";

function isTokenArray(value: readonly unknown[]): boolean {
  return value.every((item) => typeof item === "number" && Number.isInteger(item));
}

/**
 * A prompt or embedding input: a string, an array of strings, an array of token ids, or an
 * array of token-id arrays. Each entry counts as one message.
 */
export function readPromptValue(value: unknown, field: string, sink: PromptSink): void {
  if (value === undefined || value === null) return;
  if (typeof value === "string") {
    sink.messageCount += 1;
    sink.text(value);
    return;
  }
  if (!Array.isArray(value)) {
    sink.issue(`${field} must be a string or an array, got ${jsonType(value)}`);
    return;
  }
  if (value.length > 0 && isTokenArray(value)) {
    sink.messageCount += 1;
    sink.tokenIds += value.length;
    return;
  }
  sink.messageCount += value.length;
  eachCapped(value, (item, i) => {
    if (typeof item === "string") sink.text(item);
    else if (Array.isArray(item) && isTokenArray(item)) sink.tokenIds += item.length;
    else sink.issue(`${field}[${i}] must be a string or an array of token ids, got ${jsonType(item)}`);
  });
}

/** Completions (OpenAI legacy, Mistral FIM): `prompt` plus an optional `suffix`. */
export const readOpenAiCompletion: ContentReader = (body, sink) => {
  readPromptValue(body.prompt, "prompt", sink);
  readTextField(body, "suffix", "body", sink);
};

/** Embeddings (OpenAI, Azure OpenAI, Mistral, Ollama /api/embed): `input`. */
export const readEmbeddingInput: ContentReader = (body, sink) => {
  readPromptValue(body.input, "input", sink);
};
