import type { UsageTally } from "../tally.js";

/** What one value in a response meant: read fine, not the provider's schema, or nothing to read. */
export type ReadResult = "read" | "malformed";

/** A JSON value found at `path` ("$.usage", "$.choices.*.message.content") of a plain JSON response. */
export interface DocumentField {
  path: string;
  read: (value: unknown, tally: UsageTally) => ReadResult;
}

/**
 * How one provider operation reports usage. Data-like: no state of its own; everything it learns
 * goes into the tally.
 */
export interface UsageFormat {
  /** Stream framing when the content type does not say (Ollama streams NDJSON, the others SSE). */
  streamFraming: "sse" | "ndjson";
  /** The provider's input count already includes cache reads and writes (OpenAI, Gemini; not Anthropic). */
  cacheInInput: boolean;
  /** One streamed event (SSE `event:` name, parsed `data:`), or one NDJSON line (name undefined). */
  event: (name: string | undefined, data: unknown, tally: UsageTally) => ReadResult;
  /** SSE data that ends the stream without being JSON (OpenAI's `[DONE]`). */
  sentinels?: readonly string[];
  /** Values to pick out of a plain JSON response; the rest is skipped without being kept. */
  document: readonly DocumentField[];
  /** The response is a JSON array of chunks (Gemini streamGenerateContent without alt=sse). */
  documentMayBeArray?: boolean;
  /** Calls that cost nothing (count_tokens): the response reports zero usage whatever it says. */
  free?: boolean;
}
