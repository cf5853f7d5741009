import { z } from "zod";
import type { UsageTally } from "../tally.js";
import { addText, count, optionalCount, optionalText, schemaField, textField } from "./common.js";
import type { ReadResult, UsageFormat } from "./types.js";

/**
 * Anthropic counts cache reads and writes apart from input_tokens. message_start carries the input
 * side (and a placeholder output_tokens); message_delta carries the running totals, output included,
 * with the input fields null or repeated.
 */
const usage = z.object({
  input_tokens: optionalCount,
  output_tokens: optionalCount,
  cache_creation_input_tokens: optionalCount,
  cache_read_input_tokens: optionalCount,
});

function report(u: z.infer<typeof usage>, tally: UsageTally, final: boolean): void {
  tally.report(
    {
      input: u.input_tokens ?? undefined,
      output: u.output_tokens ?? undefined,
      cacheRead: u.cache_read_input_tokens ?? undefined,
      cacheWrite: u.cache_creation_input_tokens ?? undefined,
    },
    final,
  );
}

const head = z.object({ type: z.string() });
const messageStart = z.object({ message: z.object({ usage }) });
const messageDelta = z.object({ usage: usage.extend({ output_tokens: count }) });
const blockDelta = z.object({
  delta: z.object({ type: z.string(), text: optionalText, partial_json: optionalText, thinking: optionalText }),
});
const legacyCompletion = z.object({ completion: z.string() });

function readEvent(data: unknown, tally: UsageTally): ReadResult {
  const h = head.safeParse(data);
  if (!h.success) return "malformed";
  let ok = true;
  switch (h.data.type) {
    case "message_start": {
      const m = messageStart.safeParse(data);
      if ((ok = m.success)) report(m.data.message.usage, tally, false);
      break;
    }
    case "content_block_delta": {
      const b = blockDelta.safeParse(data);
      if ((ok = b.success)) addText(tally, b.data.delta.text, b.data.delta.partial_json, b.data.delta.thinking);
      break;
    }
    case "message_delta": {
      const m = messageDelta.safeParse(data);
      if ((ok = m.success)) report(m.data.usage, tally, true);
      break;
    }
    case "completion": {
      // The legacy /v1/complete stream: text only, no usage.
      const c = legacyCompletion.safeParse(data);
      if ((ok = c.success)) tally.text.add(c.data.completion);
      break;
    }
    default:
      // ping, content_block_start/stop, message_stop, error and event types added later.
      break;
  }
  return ok ? "read" : "malformed";
}

export const ANTHROPIC_MESSAGES: UsageFormat = {
  streamFraming: "sse",
  cacheInInput: false,
  event: (_name, data, tally) => readEvent(data, tally),
  document: [
    schemaField("$.usage", usage, (u, tally) => report(u, tally, true)),
    textField("$.content.*.text"),
    textField("$.content.*.thinking"),
    textField("$.content.*.input"),
    textField("$.completion"),
  ],
};

/** count_tokens is free: it reports what a prompt would cost without running it. */
export const ANTHROPIC_COUNT_TOKENS: UsageFormat = { ...ANTHROPIC_MESSAGES, document: [], free: true };
