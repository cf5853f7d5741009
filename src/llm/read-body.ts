import { PromptSink } from "./content/sink.js";
import { estimateTextTokens, type TokenProfile } from "./estimate-tokens.js";
import { describePath, getPath, jsonType, type JsonObject } from "./json.js";
import type { BodyShape } from "./types.js";

/** Chat framing per message (role and separators) and for priming the reply, as OpenAI counts it. */
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY = 3;
/** Used to extrapolate text past the scan budget when nothing was scanned to learn a ratio from. */
const FALLBACK_TOKENS_PER_CHAR = 0.25;

export interface BodyFacts {
  model: string | null;
  stream: boolean | undefined;
  maxOutputTokens: number | null;
  sink: PromptSink;
}

function readModel(body: JsonObject, shape: BodyShape, sink: PromptSink): string | null {
  for (const path of shape.model) {
    const value = getPath(body, path);
    if (value === undefined || value === null) continue;
    if (typeof value === "string" && value !== "") return value;
    sink.issue(`${describePath(path)} must be a non-empty string, got ${jsonType(value)}`);
    return null;
  }
  return null;
}

function readStream(body: JsonObject, shape: BodyShape, sink: PromptSink): boolean | undefined {
  if (!shape.stream) return undefined;
  const value = getPath(body, shape.stream.path);
  if (value === undefined || value === null) return shape.stream.absent;
  if (typeof value === "boolean") return value;
  sink.issue(`${describePath(shape.stream.path)} must be a boolean, got ${jsonType(value)}`);
  return shape.stream.absent;
}

function readMaxOutputTokens(body: JsonObject, shape: BodyShape, sink: PromptSink): number | null {
  for (const path of shape.maxOutputTokens) {
    const value = getPath(body, path);
    if (value === undefined || value === null) continue;
    if (typeof value === "number" && Number.isSafeInteger(value)) {
      if (value >= 0) return value;
      if (shape.negativeCapIsUnbounded) return null;
    }
    sink.issue(`${describePath(path)} must be a non-negative integer, got ${String(JSON.stringify(value)).slice(0, 40)}`);
    return null;
  }
  return null;
}

/** Reads model, stream flag, output cap and content of a JSON object body; never throws for any JSON. */
export function readBody(body: JsonObject, shape: BodyShape): BodyFacts {
  const sink = new PromptSink();
  for (const path of shape.required) {
    if (getPath(body, path) === undefined) sink.issue(`${describePath(path)} is required`);
  }
  const model = readModel(body, shape, sink);
  const stream = readStream(body, shape, sink);
  const maxOutputTokens = readMaxOutputTokens(body, shape, sink);
  shape.content(body, sink);
  return { model, stream, maxOutputTokens, sink };
}

/**
 * Sum of the text estimates, plus token-id prompts as given, plus chat framing; text beyond the
 * scan budget is extrapolated at the ratio seen in the scanned part.
 */
export function estimateSinkTokens(sink: PromptSink, profile: TokenProfile, chatFraming: boolean): number {
  let tokens = 0;
  for (const text of sink.texts) tokens += estimateTextTokens(text, profile);
  for (const text of sink.structural) tokens += estimateTextTokens(text, profile);
  if (sink.skippedChars > 0) {
    const ratio = sink.scannedChars > 0 ? tokens / sink.scannedChars : FALLBACK_TOKENS_PER_CHAR;
    tokens += Math.ceil(sink.skippedChars * Math.max(ratio, 1 / 8));
  }
  tokens += sink.tokenIds;
  if (chatFraming && sink.framedUnits > 0) tokens += sink.framedUnits * TOKENS_PER_MESSAGE + TOKENS_PER_REPLY;
  return tokens;
}
