/**
 * CPU cost of reading usage from streamed responses, per chunk, as the ext_proc server pays it
 * (push() then current() for every body chunk), beside a floor that only splits the same bytes
 * into events and JSON.parses them. 200-chunk responses, one SSE event (or NDJSON line) per chunk.
 *
 *   npx tsx bench/usage-reader.ts [--responses 300]
 */
import { gzipSync } from "node:zlib";
import type { ProviderId } from "../src/llm/types.js";
import { createUsageReader } from "../src/llm/usage/index.js";

const CHUNKS = 200;
const responses = Number(process.argv[process.argv.indexOf("--responses") + 1]) || 300;
const word = (i: number): string => ` word${i % 97}`;

interface Stream {
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

function gzipChunks(texts: string[]): Uint8Array[] {
  // One gzip member over the whole body, cut where the plain chunks were: what a compressing upstream sends.
  const whole = gzipSync(enc.encode(texts.join("")));
  const size = Math.ceil(whole.length / texts.length);
  return texts.map((_, i) => whole.subarray(i * size, (i + 1) * size));
}

const STREAMS: Stream[] = [
  { name: "OpenAI chat (SSE)", provider: "openai", operation: "chat", contentType: "text/event-stream", chunks: openAi().map((t) => enc.encode(t)) },
  { name: "Anthropic messages (SSE, named events)", provider: "anthropic", operation: "chat", contentType: "text/event-stream", chunks: anthropic().map((t) => enc.encode(t)) },
  { name: "Gemini alt=sse", provider: "gemini", operation: "chat", contentType: "text/event-stream", chunks: gemini().map((t) => enc.encode(t)) },
  { name: "Ollama NDJSON", provider: "ollama", operation: "chat", contentType: "application/x-ndjson", chunks: ollama().map((t) => enc.encode(t)) },
];

/** The least any reader does: decode, find event boundaries, JSON.parse each event. */
function floor(chunks: readonly Uint8Array[]): void {
  const dec = new TextDecoder();
  let buf = "";
  for (const c of chunks) {
    buf += dec.decode(c, { stream: true });
    let at: number;
    while ((at = buf.indexOf("\n")) !== -1) {
      const line = buf.slice(0, at);
      buf = buf.slice(at + 1);
      const json = line.startsWith("data: ") ? line.slice(6) : line.startsWith("{") ? line : "";
      if (json !== "" && json !== "[DONE]" && json !== "\r") JSON.parse(json);
    }
  }
}

async function reader(s: Stream, chunks: readonly Uint8Array[], encoding?: string): Promise<void> {
  const r = createUsageReader({ provider: s.provider, operation: s.operation, stream: true, contentType: s.contentType, contentEncoding: encoding });
  for (const c of chunks) {
    r.push(c);
    r.current();
  }
  const count = await r.end();
  if (count.source !== "reported" || r.malformed !== 0) throw new Error(`${s.name}: ${JSON.stringify(count)} malformed ${r.malformed}`);
}

async function cpuMicros(run: () => Promise<void> | void): Promise<number> {
  for (let i = 0; i < 20; i++) await run(); // warm-up
  const start = process.cpuUsage();
  for (let i = 0; i < responses; i++) await run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / responses / CHUNKS;
}

const rows: string[] = [];
for (const s of STREAMS) {
  const floorUs = await cpuMicros(() => floor(s.chunks));
  const readerUs = await cpuMicros(() => reader(s, s.chunks));
  rows.push(`| ${s.name} | ${readerUs.toFixed(2)} | ${floorUs.toFixed(2)} | ${(readerUs / floorUs).toFixed(1)}× |`);
}
const openai = STREAMS[0]!;
const gz = gzipChunks(openai.chunks.map((c) => new TextDecoder().decode(c)));
const gzUs = await cpuMicros(() => reader(openai, gz, "gzip"));
rows.push(`| OpenAI chat, gzip (incl. zlib) | ${gzUs.toFixed(2)} | | |`);
console.log(`${responses} responses × ${CHUNKS} chunks each, CPU µs per chunk (push + current), node ${process.version}\n`);
console.log("| stream | reader µs/chunk | floor µs/chunk (split + JSON.parse) | reader ÷ floor |\n| --- | --- | --- | --- |");
console.log(rows.join("\n"));
