/**
 * mock-llm (the stand-in provider; no real provider can be called here) answers every provider's
 * paths with usage where that provider puts it. Its raw bytes, compressed or not, go through the
 * real usage reader exactly as received on the socket, and through a real SSE parser.
 */
import { request } from "node:http";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProviderId } from "../../../src/llm/types.js";
import { createUsageReader, type UsageCount } from "../../../src/llm/usage/index.js";
import { startMockLlm, type MockLlm } from "../../deploy/support/mock-llm.js";

let mock: MockLlm;
beforeAll(async () => {
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock.stop();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  chunks: Buffer[];
  /** The connection was reset before the body ended. */
  aborted: boolean;
}

/** POSTs with node:http so the body arrives as sent: no decompression, chunks as they came. */
function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Raw> {
  const url = new URL(path, mock.url);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("aborted", () => (aborted = true));
      res.on("error", () => (aborted = true));
      res.on("close", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks, aborted: aborted || !res.complete }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

async function usageOf(raw: Raw, provider: ProviderId, operation: string, stream: boolean): Promise<{ count: UsageCount; malformed: number }> {
  const reader = createUsageReader({
    provider, operation, stream,
    contentType: String(raw.headers["content-type"] ?? ""),
    contentEncoding: raw.headers["content-encoding"] as string | undefined,
  });
  for (const c of raw.chunks) reader.push(c);
  return { count: await reader.end(), malformed: reader.malformed };
}

function sseEvents(raw: Raw): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(Buffer.concat(raw.chunks).toString("utf8"));
  return events;
}

const USER = [{ role: "user", content: "hello there" }]; // 11 characters -> 3 prompt tokens
const reported = (inputTokens: number, outputTokens: number, cacheReadTokens = 0, cacheWriteTokens = 0): UsageCount => ({ inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, source: "reported" });

interface Case {
  name: string;
  provider: ProviderId;
  operation: string;
  path: string;
  body: Record<string, unknown>;
  stream: boolean;
  contentType: string;
  expected: UsageCount;
}

const CASES: Case[] = [
  { name: "OpenAI chat, include_usage", provider: "openai", operation: "chat", path: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: USER, stream: true, stream_options: { include_usage: true } }, stream: true, contentType: "text/event-stream", expected: reported(3, 12) },
  { name: "OpenAI chat, JSON", provider: "openai", operation: "chat", path: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: USER }, stream: false, contentType: "application/json", expected: reported(3, 12) },
  { name: "OpenAI Responses stream", provider: "openai", operation: "responses", path: "/v1/responses", body: { model: "gpt-4.1", input: "hello there", stream: true }, stream: true, contentType: "text/event-stream; charset=utf-8", expected: reported(3, 12) },
  { name: "OpenAI Responses JSON", provider: "openai", operation: "responses", path: "/v1/responses", body: { model: "gpt-4.1", input: USER }, stream: false, contentType: "application/json", expected: reported(3, 12) },
  { name: "Azure OpenAI stream", provider: "azure_openai", operation: "chat", path: "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21", body: { messages: USER, stream: true, stream_options: { include_usage: true } }, stream: true, contentType: "text/event-stream", expected: reported(3, 12) },
  { name: "Anthropic stream", provider: "anthropic", operation: "chat", path: "/v1/messages", body: { model: "claude-sonnet-4-5", max_tokens: 100, messages: USER, stream: true }, stream: true, contentType: "text/event-stream", expected: reported(3, 12) },
  { name: "Anthropic JSON", provider: "anthropic", operation: "chat", path: "/v1/messages", body: { model: "claude-sonnet-4-5", max_tokens: 100, messages: USER }, stream: false, contentType: "application/json", expected: reported(3, 12) },
  { name: "Gemini alt=sse", provider: "gemini", operation: "chat", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body: { contents: [{ role: "user", parts: [{ text: "hello there" }] }] }, stream: true, contentType: "text/event-stream", expected: reported(3, 12) },
  { name: "Gemini stream without alt=sse (JSON array)", provider: "gemini", operation: "chat", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", body: { contents: [{ role: "user", parts: [{ text: "hello there" }] }] }, stream: true, contentType: "application/json; charset=UTF-8", expected: reported(3, 12) },
  { name: "Gemini generateContent", provider: "gemini", operation: "chat", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: { contents: [{ role: "user", parts: [{ text: "hello there" }] }] }, stream: false, contentType: "application/json", expected: reported(3, 12) },
  { name: "Mistral stream (by model name)", provider: "mistral", operation: "chat", path: "/v1/chat/completions", body: { model: "mistral-large-latest", messages: USER, stream: true }, stream: true, contentType: "text/event-stream", expected: reported(3, 12) },
  { name: "Mistral JSON (by header)", provider: "mistral", operation: "chat", path: "/v1/chat/completions", body: { model: "my-finetune", messages: USER }, stream: false, contentType: "application/json", expected: reported(3, 12) },
  { name: "Ollama /api/chat NDJSON", provider: "ollama", operation: "chat", path: "/api/chat", body: { model: "llama3.2", messages: USER }, stream: true, contentType: "application/x-ndjson", expected: reported(3, 12) },
  { name: "Ollama /api/generate NDJSON", provider: "ollama", operation: "completion", path: "/api/generate", body: { model: "llama3.2", prompt: "hello there" }, stream: true, contentType: "application/x-ndjson", expected: reported(3, 12) },
  { name: "Ollama /api/chat stream false", provider: "ollama", operation: "chat", path: "/api/chat", body: { model: "llama3.2", messages: USER, stream: false }, stream: false, contentType: "application/json", expected: reported(3, 12) },
];

const headersFor = (c: Case): Record<string, string> => (c.name.includes("by header") ? { "x-mock-provider": "mistral" } : {});

describe("mock-llm: every provider's reply read back by the usage reader", () => {
  it.each(CASES)("$name – $contentType, usage $expected.inputTokens + $expected.outputTokens", async (c) => {
    const raw = await post(c.path, c.body, headersFor(c));
    expect(raw.status).toBe(200);
    expect(raw.headers["content-type"]).toBe(c.contentType);
    expect(await usageOf(raw, c.provider, c.operation, c.stream)).toEqual({ count: c.expected, malformed: 0 });
  });

  it.each(CASES.filter((c) => c.stream).flatMap((c) => ["gzip", "deflate", "br"].map((encoding) => ({ ...c, encoding }))))(
    "$encoding – $name: compressed and flushed chunk by chunk, usage unchanged",
    async (c) => {
      const raw = await post(c.path, c.body, { ...headersFor(c), "x-mock-encoding": c.encoding });
      expect(raw.headers["content-encoding"]).toBe(c.encoding);
      expect(raw.chunks.length).toBeGreaterThan(1);
      expect(await usageOf(raw, c.provider, c.operation, c.stream)).toEqual({ count: c.expected, malformed: 0 });
    },
  );

  it("x-mock-reply-tokens, cache reads and writes – reported each provider's way", async () => {
    const headers = { "x-mock-reply-tokens": "200", "x-mock-cache-read": "1000", "x-mock-cache-write": "50" };
    const anthropic = await post("/v1/messages", { model: "c", max_tokens: 500, messages: USER, stream: true }, headers);
    expect((await usageOf(anthropic, "anthropic", "chat", true)).count).toEqual(reported(3 + 1000 + 50, 200, 1000, 50));
    const openai = await post("/v1/chat/completions", { model: "m", messages: USER, stream: true, stream_options: { include_usage: true } }, headers);
    expect((await usageOf(openai, "openai", "chat", true)).count).toEqual(reported(1003, 200, 1000));
    const gemini = await post("/v1beta/models/g:streamGenerateContent?alt=sse", { contents: [{ parts: [{ text: "hello there" }] }] }, headers);
    expect((await usageOf(gemini, "gemini", "chat", true)).count).toEqual(reported(1003, 200, 1000));
  });

  it("the output cap cuts the reply: finish reasons length / max_tokens / MAX_TOKENS / incomplete", async () => {
    const cut = { "x-mock-reply-tokens": "50" };
    const responses = await post("/v1/responses", { model: "m", input: "hi", max_output_tokens: 7, stream: true }, cut);
    expect(sseEvents(responses).at(-1)!.event).toBe("response.incomplete");
    expect((await usageOf(responses, "openai", "responses", true)).count.outputTokens).toBe(7);
    const gemini = await post("/v1beta/models/g:generateContent", { contents: [{ parts: [{ text: "hi" }] }], generationConfig: { maxOutputTokens: 4 } });
    const body = JSON.parse(Buffer.concat(gemini.chunks).toString()) as { candidates: { finishReason: string }[] };
    expect(body.candidates[0]!.finishReason).toBe("MAX_TOKENS");
    const ollama = await post("/api/chat", { model: "l", messages: USER, options: { num_predict: 5 } }, cut);
    expect((await usageOf(ollama, "ollama", "chat", true)).count.outputTokens).toBe(5);
  });

  it("SSE replies parse with a real SSE parser: named events for Anthropic and Responses, [DONE] last for the OpenAI family", async () => {
    const anthropic = sseEvents(await post("/v1/messages", { model: "c", max_tokens: 10, messages: USER, stream: true }));
    expect(anthropic.every((e) => e.event === (JSON.parse(e.data) as { type: string }).type)).toBe(true);
    for (const path of ["/v1/chat/completions", "/openai/deployments/d/chat/completions"]) {
      expect(sseEvents(await post(path, { model: "m", messages: USER, stream: true })).at(-1)!.data).toBe("[DONE]");
    }
    const mistral = sseEvents(await post("/v1/chat/completions", { model: "codestral-latest", messages: USER, stream: true }));
    const last = JSON.parse(mistral.at(-2)!.data) as { usage: unknown; choices: { finish_reason: string }[] };
    expect(last).toMatchObject({ usage: { prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 }, choices: [{ finish_reason: "stop" }] });
  });

  it("x-mock-disconnect-after – the connection is reset mid-stream; what arrived still counts", async () => {
    const raw = await post("/v1/messages", { model: "c", max_tokens: 100, messages: USER, stream: true }, { "x-mock-disconnect-after": "6" });
    expect(raw.aborted).toBe(true);
    const { count } = await usageOf(raw, "anthropic", "chat", true);
    expect(count.inputTokens).toBe(3);
    expect(count.outputTokens).toBeGreaterThan(1);
    expect(count.outputTokens).toBeLessThan(12);
  });

  it("bad x-mock-* headers – 400 in the provider's error shape", async () => {
    const cases: [string, Record<string, unknown>, Record<string, string>, unknown][] = [
      ["/v1/chat/completions", { model: "m", messages: USER }, { "x-mock-reply-tokens": "0" }, { error: { message: 'x-mock-reply-tokens must be an integer from 1 to 100000, got "0"' } }],
      ["/v1/messages", { model: "c", max_tokens: 1, messages: USER }, { "x-mock-encoding": "zstd" }, { type: "error", error: { type: "invalid_request_error", message: 'x-mock-encoding must be gzip, deflate or br, got "zstd"' } }],
      ["/api/chat", { model: "l", messages: USER }, { "x-mock-cache-read": "-1" }, { error: 'x-mock-cache-read must be an integer from 0 to 10000000, got "-1"' }],
      ["/v1beta/models/g:generateContent", { contents: [] }, {}, { error: { code: 400, status: "INVALID_ARGUMENT" } }],
    ];
    for (const [path, body, headers, error] of cases) {
      const raw = await post(path, body, headers);
      expect(raw.status).toBe(400);
      expect(JSON.parse(Buffer.concat(raw.chunks).toString())).toMatchObject(error as object);
    }
  });

  it("x-mock-status in each provider's error shape: Azure, Gemini, Mistral, Ollama", async () => {
    const cases: [string, Record<string, unknown>, unknown][] = [
      ["/openai/deployments/d/chat/completions", { messages: USER }, { error: { code: "429", message: "mock-llm was asked to fail with 429" } }],
      ["/v1beta/models/g:streamGenerateContent?alt=sse", { contents: [{ parts: [{ text: "x" }] }] }, { error: { code: 429, status: "RESOURCE_EXHAUSTED" } }],
      ["/v1/chat/completions", { model: "mistral-small-latest", messages: USER }, { object: "error", type: "rate_limited" }],
      ["/api/generate", { model: "l", prompt: "x" }, { error: "mock-llm was asked to fail with 429" }],
    ];
    for (const [path, body, error] of cases) {
      const raw = await post(path, body, { "x-mock-status": "429" });
      expect(raw.status).toBe(429);
      expect(JSON.parse(Buffer.concat(raw.chunks).toString())).toMatchObject(error as object);
    }
  });
});
