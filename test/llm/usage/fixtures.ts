/**
 * Response bodies exactly as each provider sends them (field names, nesting, framing, separators),
 * with the usage the reader must find. Shapes follow the providers' API references and SDK types:
 * OpenAI chat chunks with stream_options.include_usage, Responses events, Azure's
 * prompt_filter_results chunk, Anthropic's message_start/message_delta with cache tokens, Gemini's
 * alt=sse chunks (CRLF-separated) with usageMetadata, Mistral's closing usage chunk, Ollama NDJSON.
 */
import { estimateTextTokens } from "../../../src/llm/estimate-tokens.js";
import type { ProviderId } from "../../../src/llm/types.js";
import type { UsageCount } from "../../../src/llm/usage/index.js";

export interface UsageCase {
  name: string;
  provider: ProviderId;
  operation: string;
  stream: boolean;
  contentType: string;
  body: string;
  expected: UsageCount;
}

const sse = (events: unknown[], sep = "\n\n"): string => events.map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}${sep}`).join("");
const named = (events: [string, unknown][]): string => events.map(([n, d]) => `event: ${n}\ndata: ${JSON.stringify(d)}\n\n`).join("");
const reported = (inputTokens: number, outputTokens: number, cacheReadTokens = 0, cacheWriteTokens = 0): UsageCount => ({
  inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, source: "reported",
});

export const PIECES = ["Hello", " from", " the", " usage", " reader", " — ", "naïve", " 日本語", " 👋🏽", "."];
export const TEXT = PIECES.join("");

function openAiChunks(options: { usage?: unknown; model?: string; azure?: boolean }): unknown[] {
  const base = { id: "chatcmpl-AbC123", object: "chat.completion.chunk", created: 1733443200, model: options.model ?? "gpt-4o-mini-2024-07-18", system_fingerprint: "fp_0aa8d3e20b" };
  const withUsage = options.usage !== undefined ? { usage: null } : {};
  const filter = options.azure ? { content_filter_results: { hate: { filtered: false, severity: "safe" } } } : {};
  const chunks: unknown[] = [];
  if (options.azure) {
    chunks.push({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: false, severity: "safe" } } }] });
  }
  chunks.push({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null }], ...withUsage });
  for (const p of PIECES) chunks.push({ ...base, choices: [{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null, ...filter }], ...withUsage });
  chunks.push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop", ...filter }], ...withUsage });
  if (options.usage !== undefined) chunks.push({ ...base, choices: [], usage: options.usage });
  return chunks;
}

const OPENAI_USAGE = { prompt_tokens: 1117, completion_tokens: 46, total_tokens: 1163, prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } };

function responsesEvents(): string {
  const response = { id: "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654", object: "response", created_at: 1741290958, status: "in_progress", model: "gpt-4.1-2025-04-14", output: [] as unknown[], usage: null as unknown };
  const events: [string, unknown][] = [];
  let seq = 0;
  events.push(["response.created", { type: "response.created", sequence_number: seq++, response }]);
  events.push(["response.in_progress", { type: "response.in_progress", sequence_number: seq++, response }]);
  const item = { id: "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654", type: "message", status: "in_progress", role: "assistant", content: [] };
  events.push(["response.output_item.added", { type: "response.output_item.added", sequence_number: seq++, output_index: 0, item }]);
  events.push(["response.content_part.added", { type: "response.content_part.added", sequence_number: seq++, item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", annotations: [], text: "" } }]);
  for (const p of PIECES) events.push(["response.output_text.delta", { type: "response.output_text.delta", sequence_number: seq++, item_id: item.id, output_index: 0, content_index: 0, delta: p, logprobs: [] }]);
  events.push(["response.output_text.done", { type: "response.output_text.done", sequence_number: seq++, item_id: item.id, output_index: 0, content_index: 0, text: TEXT }]);
  const done = { ...item, status: "completed", content: [{ type: "output_text", annotations: [], text: TEXT }] };
  events.push(["response.output_item.done", { type: "response.output_item.done", sequence_number: seq++, output_index: 0, item: done }]);
  const usage = { input_tokens: 36, input_tokens_details: { cached_tokens: 0 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 64 }, total_tokens: 123 };
  events.push(["response.completed", { type: "response.completed", sequence_number: seq++, response: { ...response, status: "completed", output: [done], usage } }]);
  return named(events);
}

function anthropicEvents(closing: boolean): string {
  const events: [string, unknown][] = [
    ["message_start", { type: "message_start", message: { id: "msg_01XFDUDYJgAACzvnptvVoYEL", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 25, cache_creation_input_tokens: 100, cache_read_input_tokens: 2000, cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 }, output_tokens: 1, service_tier: "standard" } } }],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
    ["ping", { type: "ping" }],
    ...PIECES.map((p): [string, unknown] => ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: p } }]),
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
  ];
  if (closing) {
    events.push(["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 15 } }]);
    events.push(["message_stop", { type: "message_stop" }]);
  }
  return named(events);
}

function geminiChunks(): unknown[] {
  const chunk = (text: string, extra: Record<string, unknown> = {}, usage: Record<string, unknown> = { promptTokenCount: 8, totalTokenCount: 8 }) => ({
    candidates: [{ content: { parts: [{ text }], role: "model" }, index: 0, ...extra }],
    usageMetadata: { ...usage, promptTokensDetails: [{ modality: "TEXT", tokenCount: 8 }] },
    modelVersion: "gemini-2.5-flash",
    responseId: "mKtDaY3nCtiy1e8P1bOPiA0",
  });
  const last = PIECES.length - 1;
  return PIECES.map((p, i) =>
    i < last
      ? chunk(p)
      : chunk(p, { finishReason: "STOP" }, { promptTokenCount: 8, candidatesTokenCount: 12, totalTokenCount: 50, thoughtsTokenCount: 30, cachedContentTokenCount: 0 }),
  );
}

function mistralChunks(): unknown[] {
  const base = { id: "f798ebd5c41a45d88bb079635121cade", object: "chat.completion.chunk", created: 1732548656, model: "mistral-large-latest" };
  const last = PIECES.length - 1;
  return [
    { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
    ...PIECES.map((p, i) =>
      i < last
        ? { ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: null }] }
        : { ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: "stop" }], usage: { prompt_tokens: 34, total_tokens: 54, completion_tokens: 20 } },
    ),
  ];
}

function ollamaLines(kind: "chat" | "generate"): string {
  const created = (i: number) => `2024-08-07T03:57:${String(33 + i).padStart(2, "0")}.0365888Z`;
  const lines: Record<string, unknown>[] = PIECES.map((p, i) =>
    kind === "chat"
      ? { model: "llama3.2", created_at: created(i), message: { role: "assistant", content: p }, done: false }
      : { model: "llama3.2", created_at: created(i), response: p, done: false },
  );
  const stats = { total_duration: 4353619900, load_duration: 63915300, prompt_eval_count: 26, prompt_eval_duration: 246847000, eval_count: 17, eval_duration: 4032296000 };
  lines.push(
    kind === "chat"
      ? { model: "llama3.2", created_at: created(20), message: { role: "assistant", content: "" }, done_reason: "stop", done: true, ...stats }
      : { model: "llama3.2", created_at: created(20), response: "", done: true, done_reason: "stop", context: [1, 2, 3], ...stats },
  );
  return lines.map((l) => `${JSON.stringify(l)}\n`).join("");
}

const estimated = (text: string, profile: "o200k" | "cl100k" = "o200k"): UsageCount => ({
  inputTokens: 0, outputTokens: estimateTextTokens(text, profile), cacheReadTokens: 0, cacheWriteTokens: 0, source: "estimated",
});

export const STREAM_CASES: UsageCase[] = [
  { name: "OpenAI chat, include_usage: the usage chunk before [DONE]", provider: "openai", operation: "chat", stream: true, contentType: "text/event-stream; charset=utf-8", body: sse([...openAiChunks({ usage: OPENAI_USAGE }), "[DONE]"]), expected: reported(1117, 46, 1024) },
  { name: "OpenAI chat without include_usage: output estimated from the deltas", provider: "openai", operation: "chat", stream: true, contentType: "text/event-stream", body: sse([...openAiChunks({}), "[DONE]"]), expected: estimated(TEXT) },
  { name: "OpenAI Responses: response.completed carries usage", provider: "openai", operation: "responses", stream: true, contentType: "text/event-stream; charset=utf-8", body: responsesEvents(), expected: reported(36, 87) },
  { name: "Azure OpenAI: prompt_filter_results chunk first, usage chunk last", provider: "azure_openai", operation: "chat", stream: true, contentType: "text/event-stream", body: sse([...openAiChunks({ usage: { prompt_tokens: 19, completion_tokens: 12, total_tokens: 31 }, model: "gpt-4o-2024-11-20", azure: true }), "[DONE]"]), expected: reported(19, 12) },
  { name: "Anthropic: message_start input + cache tokens, message_delta output", provider: "anthropic", operation: "chat", stream: true, contentType: "text/event-stream; charset=utf-8", body: anthropicEvents(true), expected: reported(2125, 15, 2000, 100) },
  { name: "Gemini alt=sse: CRLF-separated chunks, last usageMetadata with thoughts", provider: "gemini", operation: "chat", stream: true, contentType: "text/event-stream", body: sse(geminiChunks(), "\r\n\r\n"), expected: reported(8, 42) },
  { name: "Mistral: usage on the finish_reason chunk, then [DONE]", provider: "mistral", operation: "chat", stream: true, contentType: "text/event-stream", body: sse([...mistralChunks(), "[DONE]"]), expected: reported(34, 20) },
  { name: "Ollama /api/chat NDJSON: prompt_eval_count and eval_count on done", provider: "ollama", operation: "chat", stream: true, contentType: "application/x-ndjson", body: ollamaLines("chat"), expected: reported(26, 17) },
  { name: "Ollama /api/generate NDJSON", provider: "ollama", operation: "completion", stream: true, contentType: "application/x-ndjson", body: ollamaLines("generate"), expected: reported(26, 17) },
  { name: "Anthropic cut after the content (no message_delta): input reported, output estimated", provider: "anthropic", operation: "chat", stream: true, contentType: "text/event-stream", body: anthropicEvents(false), expected: { ...reported(2125, estimateTextTokens(TEXT, "cl100k"), 2000, 100) } },
];

export const DOCUMENT_CASES: UsageCase[] = [
  {
    name: "OpenAI chat.completion", provider: "openai", operation: "chat", stream: false, contentType: "application/json",
    body: JSON.stringify({ id: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", object: "chat.completion", created: 1741570283, model: "gpt-4o-2024-08-06", choices: [{ index: 0, message: { role: "assistant", content: TEXT, refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }], usage: OPENAI_USAGE, service_tier: "default", system_fingerprint: "fp_fc9f1d7035" }, null, 2),
    expected: reported(1117, 46, 1024),
  },
  {
    name: "OpenAI Responses response object", provider: "openai", operation: "responses", stream: false, contentType: "application/json",
    body: JSON.stringify({ id: "resp_1", object: "response", created_at: 1741476542, status: "completed", model: "gpt-4.1-2025-04-14", output: [{ type: "message", id: "msg_1", status: "completed", role: "assistant", content: [{ type: "output_text", text: TEXT, annotations: [] }] }], usage: { input_tokens: 36, input_tokens_details: { cached_tokens: 12 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 123 } }),
    expected: reported(36, 87, 12),
  },
  {
    name: "OpenAI embeddings: prompt_tokens only", provider: "openai", operation: "embedding", stream: false, contentType: "application/json",
    body: JSON.stringify({ object: "list", data: [{ object: "embedding", index: 0, embedding: [0.0023064255, -0.009327292, -0.0028842222] }], model: "text-embedding-3-small", usage: { prompt_tokens: 8, total_tokens: 8 } }),
    expected: reported(8, 0),
  },
  {
    name: "Anthropic message with cache tokens", provider: "anthropic", operation: "chat", stream: false, contentType: "application/json",
    body: JSON.stringify({ id: "msg_013Zva2CMHLNnXjNJJKqJ2EF", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: TEXT }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 2095, cache_creation_input_tokens: 0, cache_read_input_tokens: 1800, output_tokens: 503, service_tier: "standard" } }),
    expected: reported(3895, 503, 1800, 0),
  },
  {
    name: "Anthropic count_tokens is free", provider: "anthropic", operation: "count_tokens", stream: false, contentType: "application/json",
    body: JSON.stringify({ input_tokens: 2095 }),
    expected: reported(0, 0),
  },
  {
    name: "Gemini generateContent", provider: "gemini", operation: "chat", stream: false, contentType: "application/json; charset=UTF-8",
    body: JSON.stringify({ candidates: [{ content: { parts: [{ text: TEXT }], role: "model" }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 120, candidatesTokenCount: 40, totalTokenCount: 160, cachedContentTokenCount: 100, promptTokensDetails: [{ modality: "TEXT", tokenCount: 120 }] }, modelVersion: "gemini-2.5-flash" }, null, 2),
    expected: reported(120, 40, 100),
  },
  {
    name: "Gemini streamGenerateContent without alt=sse: a JSON array of chunks", provider: "gemini", operation: "chat", stream: true, contentType: "application/json; charset=UTF-8",
    body: `[${geminiChunks().map((c) => JSON.stringify(c, null, 2)).join("\r\n,\r\n")}]`,
    expected: reported(8, 42),
  },
  {
    name: "Mistral chat.completion", provider: "mistral", operation: "chat", stream: false, contentType: "application/json",
    body: JSON.stringify({ id: "cmpl-e5cc70bb28c444948073e77776eb30ef", object: "chat.completion", model: "mistral-small-latest", usage: { prompt_tokens: 16, completion_tokens: 34, total_tokens: 50 }, created: 1702256327, choices: [{ index: 0, message: { content: TEXT, tool_calls: null, prefix: false, role: "assistant" }, finish_reason: "stop" }] }),
    expected: reported(16, 34),
  },
  {
    name: "Ollama /api/chat with stream false", provider: "ollama", operation: "chat", stream: false, contentType: "application/json; charset=utf-8",
    body: JSON.stringify({ model: "llama3.2", created_at: "2023-12-12T14:13:43.416799Z", message: { role: "assistant", content: TEXT }, done: true, total_duration: 5191566416, load_duration: 2154458, prompt_eval_count: 26, prompt_eval_duration: 383809000, eval_count: 298, eval_duration: 4799921000 }),
    expected: reported(26, 298),
  },
  {
    name: "Ollama /api/embed", provider: "ollama", operation: "embedding", stream: false, contentType: "application/json; charset=utf-8",
    body: JSON.stringify({ model: "all-minilm", embeddings: [[0.010071029, -0.0017594862, 0.05007221]], total_duration: 14143917, load_duration: 1019500, prompt_eval_count: 8 }),
    expected: reported(8, 0),
  },
  {
    name: "Anthropic legacy /v1/complete: no usage, output estimated", provider: "anthropic", operation: "completion", stream: false, contentType: "application/json",
    body: JSON.stringify({ type: "completion", id: "compl_1", completion: TEXT, stop_reason: "stop_sequence", model: "claude-2.1" }),
    expected: estimated(TEXT, "cl100k"),
  },
];
