import { PROVIDERS } from "../providers/registry.js";
import type { ProviderId } from "../types.js";

/** A budget stop reads as the provider's rate-limit error. */
const STATUS = 429;

const encoder = new TextEncoder();

function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/**
 * Bytes that replace the current chunk when tollgate stops a stream: the provider's own streaming
 * error, so its SDK raises a normal API error.
 * - OpenAI chat/completions, Azure OpenAI, Mistral: `data: {"error": {...}}` (the provider's error
 *   body), then `data: [DONE]`; the OpenAI SDK throws APIError on a data event with `error`.
 * - OpenAI Responses: `event: error` with `{"type":"error","code","message","param"}`, as the
 *   Responses stream reports failures; the SDK throws APIError for the `error` event.
 * - Anthropic: `event: error` with `{"type":"error","error":{"type":"rate_limit_error",message}}`.
 * - Gemini: `data: {"error":{"code":429,"message","status":"RESOURCE_EXHAUSTED"}}`; the genai SDK
 *   throws ApiError for an error chunk with a 4xx/5xx code.
 * - Ollama: an NDJSON line `{"error": message}`, what Ollama writes when a stream fails mid-way.
 */
export function streamStopChunk(o: { provider: ProviderId; operation: string; message: string }): Uint8Array {
  const message = String(o.message);
  switch (o.provider) {
    case "anthropic":
      return encoder.encode(`event: error\n${sseData(PROVIDERS.anthropic.errorBody(STATUS, message))}`);
    case "gemini":
      return encoder.encode(sseData(PROVIDERS.gemini.errorBody(STATUS, message)));
    case "ollama":
      return encoder.encode(`${JSON.stringify(PROVIDERS.ollama.errorBody(STATUS, message))}\n`);
    case "mistral":
      // Mistral documents no streaming error event; its SDK fails on any event that is not a chunk,
      // and OpenAI-compatible clients (the usual way to stream Mistral) understand OpenAI's shape.
      return encoder.encode(sseData(PROVIDERS.openai.errorBody(STATUS, message)) + "data: [DONE]\n\n");
    case "openai":
    case "azure_openai":
      if (o.operation === "responses") {
        const event = { type: "error", code: "rate_limit_exceeded", message, param: null };
        return encoder.encode(`event: error\n${sseData(event)}`);
      }
      return encoder.encode(sseData(PROVIDERS[o.provider].errorBody(STATUS, message)) + "data: [DONE]\n\n");
  }
}
