import { z } from "zod";
import type { UsageTally } from "../tally.js";
import { addText, count, optionalCount, optionalText, schemaField, textField } from "./common.js";
import type { ReadResult, UsageFormat } from "./types.js";

/**
 * Ollama streams NDJSON: every line has `done`; the last (`done: true`) adds prompt_eval_count
 * (input; left out when the whole prompt came from its cache) and eval_count (output). A failure
 * after streaming began arrives as a line `{"error": "..."}`.
 */
const line = z.object({
  done: z.boolean(),
  message: z
    .object({ content: optionalText, thinking: optionalText, tool_calls: z.array(z.object({ function: z.unknown() })).nullish() })
    .nullish(),
  response: optionalText,
  thinking: optionalText,
  prompt_eval_count: optionalCount,
  eval_count: optionalCount,
});

function readLine(data: unknown, tally: UsageTally): ReadResult {
  if (typeof data === "object" && data !== null && "error" in data) return "read";
  const parsed = line.safeParse(data);
  if (!parsed.success) return "malformed";
  const l = parsed.data;
  addText(tally, l.message?.content, l.message?.thinking, l.response, l.thinking);
  for (const call of l.message?.tool_calls ?? []) tally.text.add(JSON.stringify(call.function));
  if (l.done && (l.eval_count != null || l.prompt_eval_count != null)) {
    tally.report({ input: l.prompt_eval_count ?? 0, output: l.eval_count ?? undefined }, l.eval_count != null);
  }
  return "read";
}

const reportInput = (n: number, tally: UsageTally): void => tally.report({ input: n }, true);
const reportOutput = (n: number, tally: UsageTally): void => tally.report({ output: n }, true);

export const OLLAMA_GENERATE: UsageFormat = {
  streamFraming: "ndjson",
  cacheInInput: true,
  event: (_name, data, tally) => readLine(data, tally),
  document: [
    schemaField("$.prompt_eval_count", count, reportInput),
    schemaField("$.eval_count", count, reportOutput),
    textField("$.message.content"),
    textField("$.message.thinking"),
    textField("$.response"),
    textField("$.thinking"),
  ],
};

/** /api/embed reports prompt_eval_count; the legacy /api/embeddings reports nothing. */
export const OLLAMA_EMBEDDING: UsageFormat = {
  ...OLLAMA_GENERATE,
  document: [schemaField("$.prompt_eval_count", count, (n, tally) => tally.report({ input: n, output: 0 }, true))],
};
