import type { TokenProfile } from "./estimate-tokens.js";
import type { PromptSink } from "./content/sink.js";

export { PROVIDER_IDS, type LlmSettings, type ProviderId } from "../config/llm.js";
import type { ProviderId } from "../config/llm.js";

/** What the call does, normalised across providers. */
export type LlmOperation = "chat" | "completion" | "responses" | "embedding" | "count_tokens";

export type LlmErrorCode = "body_missing" | "body_truncated" | "body_not_json" | "schema_mismatch";

export interface LlmInputError {
  code: LlmErrorCode;
  message: string;
}

/** `input.llm` as policies see it (snake_case keys for Rego). */
export interface LlmInput {
  provider: ProviderId;
  operation: LlmOperation;
  /** Model from the body, else from the path (Azure deployment, Gemini model); null when neither. */
  model: string | null;
  stream: boolean;
  /** Output-token cap the client asked for, whatever the provider calls it; null when absent. */
  max_output_tokens: number | null;
  estimated_input_tokens: number;
  message_count: number;
  has_tools: boolean;
  has_images: boolean;
  truncated: boolean;
  error?: LlmInputError;
}

/** A dotted location in the JSON body, e.g. ["generationConfig", "maxOutputTokens"]. */
export type FieldPath = readonly string[];

/** Reads prompt text and message facts of one body schema into the sink. */
export type ContentReader = (body: Readonly<Record<string, unknown>>, sink: PromptSink) => void;

export interface BodyShape {
  /** Where the model name may be; the first string found wins. */
  model: readonly FieldPath[];
  /** Where the stream flag is and what it means when absent (Ollama streams by default). */
  stream?: { path: FieldPath; absent: boolean };
  /** Output-token cap locations in priority order; the first present wins. */
  maxOutputTokens: readonly FieldPath[];
  /** A negative cap means "no cap" (Ollama's num_predict -1/-2) instead of being invalid. */
  negativeCapIsUnbounded?: boolean;
  /** Fields the upstream rejects the request without. */
  required: readonly FieldPath[];
  /** The field whose presence tells this body shape apart from the provider's others. */
  signature: FieldPath;
  content: ContentReader;
  /** Requests carry chat framing (per-message and reply-priming tokens). */
  chatFraming: boolean;
}

export interface RouteSpec {
  /** Full path pattern; `{name}` captures one segment part, e.g. "/v1beta/models/{model}:generateContent". */
  pattern: string;
  operation: LlmOperation;
  /** Set when the path alone decides streaming (Gemini's :streamGenerateContent). */
  stream?: boolean;
  /** Only recognised when the host (or a host/prefix setting) already named this provider. */
  hostOnly?: boolean;
  body: BodyShape;
}

export type ErrorBodyBuilder = (status: number, message: string) => unknown;

export interface ProviderSpec {
  id: ProviderId;
  /** Hosts that name this provider: exact names or "*.suffix" wildcards. */
  hosts: readonly string[];
  /** Leading path parts a configured prefix may replace (e.g. "/v1"). */
  versionBases: readonly string[];
  routes: readonly RouteSpec[];
  /** Header the provider's SDK sends the caller's key in (lower-case). */
  clientKeyHeaders: readonly string[];
  /** Query parameters that carry the caller's key (Gemini's `key`). */
  clientKeyQueryParams: readonly string[];
  /** Headers tollgate sets to authenticate upstream with the real secret. */
  upstreamAuth: (secret: string, clientHeaders: Readonly<Record<string, string | undefined>>) => Record<string, string>;
  errorBody: ErrorBodyBuilder;
  /** Which tokenizer profile approximates this provider's tokenizer best. */
  tokenProfile: (model: string | null) => TokenProfile;
}

