import { readGeminiEmbed, readGeminiGenerate } from "../content/gemini-contents.js";
import type { BodyShape, LlmOperation, ProviderSpec, RouteSpec } from "../types.js";

const GENERATE: BodyShape = {
  model: [["model"]],
  maxOutputTokens: [["generationConfig", "maxOutputTokens"], ["generation_config", "max_output_tokens"]],
  required: [["contents"]],
  signature: ["contents"],
  content: readGeminiGenerate,
  chatFraming: true,
};

const COUNT_TOKENS: BodyShape = { ...GENERATE, maxOutputTokens: [], required: [] };

const EMBED: BodyShape = {
  model: [["model"]],
  maxOutputTokens: [],
  required: [["content"]],
  signature: ["content"],
  content: readGeminiEmbed,
  chatFraming: false,
};

const BATCH_EMBED: BodyShape = { ...EMBED, required: [["requests"]], signature: ["requests"] };

const METHODS: readonly { method: string; operation: LlmOperation; stream?: boolean; body: BodyShape }[] = [
  { method: "generateContent", operation: "chat", stream: false, body: GENERATE },
  { method: "streamGenerateContent", operation: "chat", stream: true, body: GENERATE },
  { method: "countTokens", operation: "count_tokens", body: COUNT_TOKENS },
  { method: "embedContent", operation: "embedding", body: EMBED },
  { method: "batchEmbedContents", operation: "embedding", body: BATCH_EMBED },
];

const VERSIONS = ["/v1beta", "/v1", "/v1alpha"] as const;

/** `/{version}/models/{model}:{method}` and the same for tuned models, for every version. */
const ROUTES: RouteSpec[] = VERSIONS.flatMap((version) =>
  ["models", "tunedModels"].flatMap((collection) =>
    METHODS.map(({ method, ...rest }) => ({ pattern: `${version}/${collection}/{model}:${method}`, ...rest })),
  ),
);

/** google.rpc status names for the HTTP statuses Google APIs map them to. */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function geminiErrorBody(status: number, message: string): unknown {
  const name = STATUS_NAMES[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION");
  return { error: { code: status, message, status: name } };
}

export const GEMINI: ProviderSpec = {
  id: "gemini",
  hosts: ["generativelanguage.googleapis.com"],
  versionBases: VERSIONS,
  routes: ROUTES,
  // The SDKs send x-goog-api-key; REST examples also use ?key=. OAuth callers use Authorization.
  clientKeyHeaders: ["x-goog-api-key", "authorization"],
  clientKeyQueryParams: ["key"],
  upstreamAuth: (secret) => ({ "x-goog-api-key": secret }),
  errorBody: geminiErrorBody,
  tokenProfile: () => "o200k",
};
