import { z } from "zod";
import type { UsageTally } from "../tally.js";
import { addText, optionalText, schemaField, textField } from "./common.js";
import { OPENAI_EMBEDDING, reportCompletionUsage } from "./openai.js";
import type { ReadResult, UsageFormat } from "./types.js";

/**
 * Mistral streams OpenAI-style chunks, but always closes with usage on the chunk that carries the
 * finish_reason (no stream_options needed), then `data: [DONE]`. Content may be a string or a list
 * of chunks (text, and thinking chunks that hold text chunks).
 */
type ContentChunk = { type?: string | null; text?: string | null; thinking?: ContentChunk[] | null };
const contentChunk: z.ZodType<ContentChunk> = z.lazy(() =>
  z.object({ type: optionalText, text: optionalText, thinking: z.array(contentChunk).nullish() }),
);
const content = z.union([z.string(), z.array(contentChunk)]).nullish();

const usage = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative().nullish(),
});
const chunk = z.object({
  choices: z
    .array(
      z.object({
        delta: z
          .object({ content, tool_calls: z.array(z.object({ function: z.object({ arguments: z.unknown() }).nullish() })).nullish() })
          .nullish(),
      }),
    )
    .nullish(),
  usage: usage.nullish(),
});

function addContent(tally: UsageTally, c: string | ContentChunk[] | null | undefined): void {
  if (typeof c === "string") tally.text.add(c);
  else for (const part of c ?? []) {
    addText(tally, part.text);
    addContent(tally, part.thinking);
  }
}

function readChunk(data: unknown, tally: UsageTally): ReadResult {
  if (typeof data === "object" && data !== null && ("error" in data || (data as { object?: unknown }).object === "error")) return "read";
  const parsed = chunk.safeParse(data);
  if (!parsed.success || (parsed.data.choices == null && parsed.data.usage == null)) return "malformed";
  for (const choice of parsed.data.choices ?? []) {
    addContent(tally, choice.delta?.content);
    for (const call of choice.delta?.tool_calls ?? []) {
      const args = call.function?.arguments;
      if (typeof args === "string") tally.text.add(args);
      else if (args != null) tally.text.add(JSON.stringify(args));
    }
  }
  if (parsed.data.usage) reportCompletionUsage(parsed.data.usage, tally);
  return "read";
}

export const MISTRAL_CHAT: UsageFormat = {
  streamFraming: "sse",
  cacheInInput: true,
  sentinels: ["[DONE]"],
  event: (_name, data, tally) => readChunk(data, tally),
  document: [
    schemaField("$.usage", usage, reportCompletionUsage),
    textField("$.choices.*.message.content"),
    textField("$.choices.*.message.content.*.text"),
    textField("$.choices.*.message.tool_calls.*.function.arguments"),
  ],
};

export const MISTRAL_EMBEDDING: UsageFormat = OPENAI_EMBEDDING;
