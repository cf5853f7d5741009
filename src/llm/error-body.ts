import { TollgateError } from "../errors.js";
import { PROVIDERS } from "./providers/registry.js";
import type { ProviderId } from "./types.js";

export interface LlmErrorBody {
  contentType: "application/json";
  body: string;
}

/**
 * A denial body in `provider`'s own error shape so its SDK surfaces `message` (and maps the
 * status to its usual exception): OpenAI `{"error":{message,type,param,code}}`, Azure
 * `{"error":{code,message}}`, Anthropic `{"type":"error","error":{type,message}}`, Gemini
 * `{"error":{code,message,status}}`, Mistral `{"object":"error",message,type,param,code}`,
 * Ollama `{"error":message}`.
 */
export function llmErrorBody(provider: ProviderId, status: number, message: string): LlmErrorBody {
  const spec = PROVIDERS[provider];
  if (!spec) throw new TollgateError("config_error", `unknown LLM provider ${JSON.stringify(provider)}`);
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new TollgateError("internal_error", `error status must be an integer from 400 to 599, got ${status}`);
  }
  return { contentType: "application/json", body: JSON.stringify(spec.errorBody(status, String(message))) };
}
