import type { ProviderSpec } from "../types.js";
import { OPENAI_CHAT, OPENAI_COMPLETION, OPENAI_EMBEDDING, OPENAI_RESPONSES, openAiTokenProfile } from "./openai.js";

const DEPLOYMENT = "/openai/deployments/{deployment}";

/**
 * Azure's gateway answers auth and quota failures as `{"error":{"code":"401","message":…}}`
 * (the status as a string); tollgate's denials use the same shape.
 */
function azureErrorBody(status: number, message: string): unknown {
  return { error: { code: String(status), message } };
}

/**
 * Azure OpenAI. Deployment paths name the model in the path (a body `model` wins when present).
 * The `/openai/v1/…` paths of Azure's v1 API need the Azure host (or a host/prefix setting),
 * because gateways commonly expose OpenAI itself under `/openai/v1`.
 */
export const AZURE_OPENAI: ProviderSpec = {
  id: "azure_openai",
  hosts: ["*.openai.azure.com", "*.cognitiveservices.azure.com", "*.services.ai.azure.com"],
  versionBases: ["/openai"],
  routes: [
    { pattern: `${DEPLOYMENT}/chat/completions`, operation: "chat", body: { ...OPENAI_CHAT, required: [["messages"]] } },
    { pattern: `${DEPLOYMENT}/completions`, operation: "completion", body: { ...OPENAI_COMPLETION, required: [["prompt"]] } },
    { pattern: `${DEPLOYMENT}/embeddings`, operation: "embedding", body: { ...OPENAI_EMBEDDING, required: [["input"]] } },
    { pattern: "/openai/responses", operation: "responses", body: OPENAI_RESPONSES },
    { pattern: "/openai/v1/chat/completions", operation: "chat", hostOnly: true, body: OPENAI_CHAT },
    { pattern: "/openai/v1/completions", operation: "completion", hostOnly: true, body: OPENAI_COMPLETION },
    { pattern: "/openai/v1/responses", operation: "responses", hostOnly: true, body: OPENAI_RESPONSES },
    { pattern: "/openai/v1/embeddings", operation: "embedding", hostOnly: true, body: OPENAI_EMBEDDING },
  ],
  // Keys go in `api-key`; Entra ID tokens in Authorization.
  clientKeyHeaders: ["api-key", "authorization"],
  clientKeyQueryParams: [],
  upstreamAuth: (secret) => ({ "api-key": secret }),
  errorBody: azureErrorBody,
  tokenProfile: openAiTokenProfile,
};
