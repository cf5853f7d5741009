import { z } from "zod";
import type { UsageTally } from "../tally.js";
import { addText, optionalCount, optionalText, schemaField, textField } from "./common.js";
import type { ReadResult, UsageFormat } from "./types.js";

/**
 * usageMetadata: promptTokenCount includes cachedContentTokenCount; thinking is billed as output
 * (thoughtsTokenCount beside candidatesTokenCount); tool-use prompts count as input. Every streamed
 * chunk may carry running totals; the chunk with a finishReason carries the final ones.
 */
const usageMetadata = z.object({
  promptTokenCount: optionalCount,
  candidatesTokenCount: optionalCount,
  cachedContentTokenCount: optionalCount,
  thoughtsTokenCount: optionalCount,
  toolUsePromptTokenCount: optionalCount,
});

function sum(...values: (number | null | undefined)[]): number | undefined {
  return values.some((v) => v != null) ? values.reduce<number>((n, v) => n + (v ?? 0), 0) : undefined;
}

function report(u: z.infer<typeof usageMetadata>, tally: UsageTally, final: boolean): void {
  tally.report(
    {
      input: sum(u.promptTokenCount, u.toolUsePromptTokenCount),
      output: sum(u.candidatesTokenCount, u.thoughtsTokenCount),
      cacheRead: u.cachedContentTokenCount ?? undefined,
    },
    final,
  );
}

const part = z.object({ text: optionalText, functionCall: z.object({ args: z.unknown() }).nullish() });
const chunk = z.object({
  candidates: z
    .array(z.object({ content: z.object({ parts: z.array(part).nullish() }).nullish(), finishReason: optionalText }))
    .nullish(),
  usageMetadata: usageMetadata.nullish(),
});

function readChunk(data: unknown, tally: UsageTally): ReadResult {
  if (typeof data === "object" && data !== null && "error" in data) return "read"; // the upstream's own error event
  const parsed = chunk.safeParse(data);
  if (!parsed.success || (parsed.data.candidates == null && parsed.data.usageMetadata == null)) return "malformed";
  let finished = false;
  for (const candidate of parsed.data.candidates ?? []) {
    if (candidate.finishReason) finished = true;
    for (const p of candidate.content?.parts ?? []) {
      addText(tally, p.text);
      if (p.functionCall?.args !== undefined) addText(tally, JSON.stringify(p.functionCall.args));
    }
  }
  if (parsed.data.usageMetadata) report(parsed.data.usageMetadata, tally, finished);
  return "read";
}

export const GEMINI_GENERATE: UsageFormat = {
  streamFraming: "sse",
  cacheInInput: true,
  event: (_name, data, tally) => readChunk(data, tally),
  // Without alt=sse, streamGenerateContent answers one JSON array of chunks; the last usage wins.
  documentMayBeArray: true,
  document: [
    schemaField("$.usageMetadata", usageMetadata, (u, tally) => report(u, tally, true)),
    schemaField("$.*.usageMetadata", usageMetadata, (u, tally) => report(u, tally, true)),
    textField("$.candidates.*.content.parts.*.text"),
    textField("$.*.candidates.*.content.parts.*.text"),
    textField("$.candidates.*.content.parts.*.functionCall.args"),
  ],
};

/** Embeddings report no usage; countTokens is free. */
export const GEMINI_EMBED: UsageFormat = { ...GEMINI_GENERATE, document: [], documentMayBeArray: false };
export const GEMINI_COUNT_TOKENS: UsageFormat = { ...GEMINI_EMBED, free: true };
