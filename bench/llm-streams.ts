/**
 * Streamed LLM responses as the providers send them, 200 chunks each, one SSE event (or NDJSON
 * line) per chunk: what bench/usage-reader.ts and bench/extproc.ts feed tollgate.
 */
import { gzipSync } from "node:zlib";
import type { ProviderId } from "../src/llm/types.js";

export const CHUNKS = 200;
const word = (i: number): string => ` word${i % 97}`;

export interface Stream {
  name: string;
  provider: ProviderId;
  operation: string;
  contentType: string;
  chunks: Uint8Array[];
}

const enc = new TextEncoder();
const sse = (v: unknown): string => `data: ${JSON.stringify(v)}\n\n`;

function openAi(): string[] {
  const base = { id: "chatcmpl-AbC123", object: "chat.completion.chunk", created: 1733443200, model: "gpt-4o-mini-2024-07-18", system_fingerprint: "fp_0aa8d3e20b" };
  const out = Array.from({ length: CHUNKS - 1 }, (_, i) => sse({ ...base, choices: [{ index: 0, delta: { content: word(i) }, logprobs: null, finish_reason: null }], usage: null }));
  out.push(sse({ ...base, choices: [], usage: { prompt_tokens: 50, completion_tokens: CHUNKS, total_tokens: 50 + CHUNKS } }) + "data: [DONE]\n\n");
  return out;
}

function anthropic(): string[] {
  const ev = (n: string, d: unknown): string => `event: ${n}\ndata: ${JSON.stringify(d)}\n\n`;
  const out = [ev("message_start", { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "claude-sonnet-4-5", content: [], usage: { input_tokens: 50, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 1 } } })];
  for (let i = 0; i < CHUNKS - 2; i++) out.push(ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: word(i) } }));
  out.push(ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: CHUNKS } }));
  return out;
}

function gemini(): string[] {
  return Array.from({ length: CHUNKS }, (_, i) => `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: word(i) }], role: "model" }, index: 0, ...(i === CHUNKS - 1 ? { finishReason: "STOP" } : {}) }], usageMetadata: { promptTokenCount: 50, totalTokenCount: 50 + i, ...(i === CHUNKS - 1 ? { candidatesTokenCount: CHUNKS } : {}) }, modelVersion: "gemini-2.5-flash" })}\r\n\r\n`);
}

function ollama(): string[] {
  const out = Array.from({ length: CHUNKS - 1 }, (_, i) => `${JSON.stringify({ model: "llama3.2", created_at: "2024-08-07T03:57:33.0365888Z", message: { role: "assistant", content: word(i) }, done: false })}\n`);
  out.push(`${JSON.stringify({ model: "llama3.2", created_at: "2024-08-07T03:57:37Z", message: { role: "assistant", content: "" }, done: true, prompt_eval_count: 50, eval_count: CHUNKS })}\n`);
  return out;
}

export function gzipChunks(texts: string[]): Uint8Array[] {
  // One gzip member over the whole body, cut where the plain chunks were: what a compressing upstream sends.
  const whole = gzipSync(enc.encode(texts.join("")));
  const size = Math.ceil(whole.length / texts.length);
  return texts.map((_, i) => whole.subarray(i * size, (i + 1) * size));
}

export const STREAMS: Stream[] = [
  { name: "OpenAI chat (SSE)", provider: "openai", operation: "chat", contentType: "text/event-stream", chunks: openAi().map((t) => enc.encode(t)) },
  { name: "Anthropic messages (SSE, named events)", provider: "anthropic", operation: "chat", contentType: "text/event-stream", chunks: anthropic().map((t) => enc.encode(t)) },
  { name: "Gemini alt=sse", provider: "gemini", operation: "chat", contentType: "text/event-stream", chunks: gemini().map((t) => enc.encode(t)) },
  { name: "Ollama NDJSON", provider: "ollama", operation: "chat", contentType: "application/x-ndjson", chunks: ollama().map((t) => enc.encode(t)) },
];

