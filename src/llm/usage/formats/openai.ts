import { z } from "zod";
import type { UsageTally } from "../tally.js";
import { addText, count, optionalCount, optionalText, schemaField, textField } from "./common.js";
import type { ReadResult, UsageFormat } from "./types.js";

/** Chat/legacy completions and embeddings usage: prompt_tokens includes cached_tokens. */
const completionUsage = z.object({
  prompt_tokens: count,
  completion_tokens: optionalCount,
  prompt_tokens_details: z.object({ cached_tokens: optionalCount }).nullish(),
});

export function reportCompletionUsage(u: z.infer<typeof completionUsage>, tally: UsageTally): void {
  tally.report(
    { input: u.prompt_tokens, output: u.completion_tokens ?? 0, cacheRead: u.prompt_tokens_details?.cached_tokens ?? undefined },
    true,
  );
}

const toolCalls = z.array(z.object({ function: z.object({ arguments: optionalText }).nullish() })).nullish();

const chatChoice = z.object({
  delta: z
    .object({ content: optionalText, refusal: optionalText, reasoning_content: optionalText, tool_calls: toolCalls })
    .nullish(),
  text: optionalText,
});

/**
 * A chat.completion.chunk (or legacy text_completion chunk). With stream_options.include_usage the
 * last chunk before [DONE] has `choices: []` and the usage; every other chunk says `usage: null`.
 */
const chatChunk = z.object({ choices: z.array(chatChoice).nullish(), usage: completionUsage.nullish() });

export function readChatChunk(data: unknown, tally: UsageTally): ReadResult {
  if (typeof data === "object" && data !== null && "error" in data) return "read"; // the upstream's own error event
  const parsed = chatChunk.safeParse(data);
  if (!parsed.success || (parsed.data.choices == null && parsed.data.usage == null)) return "malformed";
  for (const choice of parsed.data.choices ?? []) {
    addText(tally, choice.text, choice.delta?.content, choice.delta?.refusal, choice.delta?.reasoning_content);
    for (const call of choice.delta?.tool_calls ?? []) addText(tally, call.function?.arguments);
  }
  if (parsed.data.usage) reportCompletionUsage(parsed.data.usage, tally);
  return "read";
}

const CHAT_DOCUMENT = [
  schemaField("$.usage", completionUsage, reportCompletionUsage),
  textField("$.choices.*.message.content"),
  textField("$.choices.*.message.refusal"),
  textField("$.choices.*.message.tool_calls.*.function.arguments"),
  textField("$.choices.*.text"),
];

export const OPENAI_CHAT: UsageFormat = {
  streamFraming: "sse",
  cacheInInput: true,
  sentinels: ["[DONE]"],
  event: (_name, data, tally) => readChatChunk(data, tally),
  document: CHAT_DOCUMENT,
};

/** Responses API usage: input_tokens includes input_tokens_details.cached_tokens. */
const responsesUsage = z.object({
  input_tokens: count,
  output_tokens: count,
  input_tokens_details: z.object({ cached_tokens: optionalCount }).nullish(),
});

function reportResponsesUsage(u: z.infer<typeof responsesUsage>, tally: UsageTally): void {
  tally.report({ input: u.input_tokens, output: u.output_tokens, cacheRead: u.input_tokens_details?.cached_tokens ?? undefined }, true);
}

const responsesEvent = z.object({ type: z.string() });
const deltaEvent = z.object({ delta: z.string() });
const closingEvent = z.object({ response: z.object({ usage: responsesUsage.nullish() }) });

/** Events whose `delta` is generated text or tool-call input. */
const TEXT_DELTAS = new Set([
  "response.output_text.delta",
  "response.refusal.delta",
  "response.function_call_arguments.delta",
  "response.custom_tool_call_input.delta",
  "response.reasoning_text.delta",
  "response.reasoning_summary_text.delta",
]);

/** The events that close a response and carry its usage. */
const CLOSING = new Set(["response.completed", "response.incomplete", "response.failed"]);

function readResponsesEvent(data: unknown, tally: UsageTally): ReadResult {
  const head = responsesEvent.safeParse(data);
  if (!head.success) return "malformed";
  const type = head.data.type;
  if (TEXT_DELTAS.has(type)) {
    const d = deltaEvent.safeParse(data);
    if (!d.success) return "malformed";
    tally.text.add(d.data.delta);
  } else if (CLOSING.has(type)) {
    const c = closingEvent.safeParse(data);
    if (!c.success) return "malformed";
    if (c.data.response.usage) reportResponsesUsage(c.data.response.usage, tally);
  }
  return "read";
}

export const OPENAI_RESPONSES: UsageFormat = {
  streamFraming: "sse",
  cacheInInput: true,
  sentinels: ["[DONE]"],
  event: (_name, data, tally) => readResponsesEvent(data, tally),
  document: [
    schemaField("$.usage", responsesUsage, reportResponsesUsage),
    textField("$.output.*.content.*.text"),
    textField("$.output.*.arguments"),
  ],
};

/** Embeddings: `usage: {prompt_tokens, total_tokens}`, no output. */
export const OPENAI_EMBEDDING: UsageFormat = {
  streamFraming: "sse",
  cacheInInput: true,
  event: () => "malformed",
  document: [schemaField("$.usage", completionUsage, reportCompletionUsage)],
};
