import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { estimateTextTokens } from "../../../src/llm/estimate-tokens.js";
import { createUsageReader, type UsageReaderOptions } from "../../../src/llm/usage/index.js";
import { STREAM_CASES } from "./fixtures.js";
import { random, randomSplits } from "./split.js";

const encoder = new TextEncoder();
const OPENAI_SSE: UsageReaderOptions = { provider: "openai", operation: "chat", stream: true, contentType: "text/event-stream" };
const usageChunk = (prompt: number, completion: number): string =>
  `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":${prompt},"completion_tokens":${completion},"total_tokens":${prompt + completion}}}\n\n`;
const textChunk = (text: string): string => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: text } }], usage: null })}\n\n`;

async function readAll(options: UsageReaderOptions, body: string | Uint8Array) {
  const reader = createUsageReader(options);
  reader.push(typeof body === "string" ? encoder.encode(body) : body);
  const count = await reader.end();
  return { count, malformed: reader.malformed };
}

describe("bad input: counted as malformed, never thrown, and the good events around it still count", () => {
  const cases: { title: string; options?: UsageReaderOptions; body: string; malformed: number; input: number; output: number }[] = [
    { title: "SSE data that is not JSON", body: `data: {not json\n\n${usageChunk(7, 3)}data: [DONE]\n\n`, malformed: 1, input: 7, output: 3 },
    { title: "JSON that is not an object", body: `data: [1,2]\n\ndata: "text"\n\n${usageChunk(7, 3)}`, malformed: 2, input: 7, output: 3 },
    { title: "a chunk without choices or usage", body: `data: {"id":"c","object":"chat.completion.chunk"}\n\n${usageChunk(7, 3)}`, malformed: 1, input: 7, output: 3 },
    { title: "usage counts that are strings, negative or fractional", body: `${usageChunk(7, 3)}data: {"choices":[],"usage":{"prompt_tokens":"9","completion_tokens":1}}\n\ndata: {"choices":[],"usage":{"prompt_tokens":-1,"completion_tokens":1}}\n\ndata: {"choices":[],"usage":{"prompt_tokens":1.5,"completion_tokens":1}}\n\n`, malformed: 3, input: 7, output: 3 },
    { title: "choices of the wrong type", body: `data: {"choices":"nope","usage":null}\n\ndata: {"choices":[{"delta":{"content":42}}]}\n\n${usageChunk(7, 3)}`, malformed: 2, input: 7, output: 3 },
    { title: "an upstream error event is the provider's, not malformed", body: `${usageChunk(7, 3)}data: {"error":{"message":"overloaded","type":"server_error"}}\n\n`, malformed: 0, input: 7, output: 3 },
    { title: "fields the SSE spec ignores (id, retry, unknown, comments) are ignored", body: `: keep-alive\nid: 1\nretry: 10\nfoo: bar\n${usageChunk(7, 3)}`, malformed: 0, input: 7, output: 3 },
    {
      title: "Anthropic: an event without type, and a message_delta without output_tokens",
      options: { provider: "anthropic", operation: "chat", stream: true, contentType: "text/event-stream" },
      body: `event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}\n\nevent: x\ndata: {"no":"type"}\n\nevent: message_delta\ndata: {"type":"message_delta","usage":{}}\n\nevent: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":4}}\n\n`,
      malformed: 2, input: 10, output: 4,
    },
    {
      title: "Ollama: a line without done, and a line that is not JSON",
      options: { provider: "ollama", operation: "chat", stream: true, contentType: "application/x-ndjson" },
      body: `{"model":"m","message":{"content":"hi"}}\n{oops\n{"model":"m","message":{"content":""},"done":true,"prompt_eval_count":5,"eval_count":2}\n`,
      malformed: 2, input: 5, output: 2,
    },
    {
      title: "Gemini: usageMetadata of the wrong type",
      options: { provider: "gemini", operation: "chat", stream: true, contentType: "text/event-stream" },
      body: `data: {"usageMetadata":"lots"}\r\n\r\ndata: {"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}\r\n\r\n`,
      malformed: 1, input: 3, output: 1,
    },
    { title: "a plain JSON body that is not JSON", options: { ...OPENAI_SSE, stream: false, contentType: "application/json" }, body: "<html>502 Bad Gateway</html>", malformed: 1, input: 0, output: 0 },
    { title: "a plain JSON body cut in the middle", options: { ...OPENAI_SSE, stream: false, contentType: "application/json" }, body: '{"usage":{"prompt_tokens":3,"completion_tokens":4},"choices":[{"mess', malformed: 1, input: 3, output: 4 },
    { title: "a plain JSON usage of the wrong schema", options: { ...OPENAI_SSE, stream: false, contentType: "application/json" }, body: '{"usage":{"prompt_tokens":true}}', malformed: 1, input: 0, output: 0 },
    { title: "a plain JSON array where an object belongs", options: { ...OPENAI_SSE, stream: false, contentType: "application/json" }, body: '[{"usage":{"prompt_tokens":3}}]', malformed: 1, input: 0, output: 0 },
  ];
  it.each(cases)("$title – malformed $malformed", async ({ options, body, malformed, input, output }) => {
    const result = await readAll(options ?? OPENAI_SSE, body);
    expect(result.malformed).toBe(malformed);
    expect([result.count.inputTokens, result.count.outputTokens]).toEqual([input, output]);
  });

  it("an upstream 4xx error body (JSON, no usage) is not malformed and reports nothing", async () => {
    const result = await readAll({ ...OPENAI_SSE, stream: false, contentType: "application/json" }, '{"error":{"message":"Invalid API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}');
    expect(result).toEqual({ count: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, source: "estimated" }, malformed: 0 });
  });

  it("corrupt gzip – malformed 1, end() resolves with what was read", async () => {
    const good = gzipSync(encoder.encode(textChunk("hello there")));
    const corrupt = new Uint8Array(good);
    corrupt.fill(0x41, 12);
    const result = await readAll({ ...OPENAI_SSE, contentEncoding: "gzip" }, corrupt);
    expect(result.malformed).toBe(1);
    expect(result.count.source).toBe("estimated");
  });

  it("a stream cut inside the gzip trailer – what was decoded still counts", async () => {
    const body = gzipSync(encoder.encode(textChunk("hello there") + usageChunk(5, 2)));
    const result = await readAll({ ...OPENAI_SSE, contentEncoding: "gzip" }, body.subarray(0, body.length - 6));
    expect([result.count.inputTokens, result.count.outputTokens]).toEqual([5, 2]);
    expect(result.malformed).toBe(1);
  });

  it("a body cut short by the client (end with cut): the split event or gzip block is not malformed, and what was read still counts", async () => {
    const sse = encoder.encode(textChunk("hello there") + usageChunk(5, 2) + textChunk("more words"));
    const gz = gzipSync(sse);
    for (const [options, body] of [
      [OPENAI_SSE, sse.subarray(0, sse.length - 9)],
      [{ ...OPENAI_SSE, contentEncoding: "gzip" }, gz.subarray(0, gz.length - 6)],
      [{ provider: "ollama", operation: "chat", stream: true, contentType: "application/x-ndjson" }, encoder.encode('{"message":{"content":"hi"},"done":false}\n{"message":{"con')],
    ] as const) {
      const cut = createUsageReader(options);
      cut.push(body);
      const count = await cut.end({ cut: true });
      expect(cut.malformed).toBe(0);
      expect(count.outputTokens).toBeGreaterThan(0);
      // The same bytes as a complete body are a malformed end.
      const whole = createUsageReader(options);
      whole.push(body);
      await whole.end();
      expect(whole.malformed).toBe(1);
    }
  });

  it("an empty body, in every framing and encoding – nothing reported, nothing malformed, end() resolves", async () => {
    for (const contentType of ["text/event-stream", "application/x-ndjson", "application/json"]) {
      for (const contentEncoding of [undefined, "gzip", "deflate", "br"]) {
        const reader = createUsageReader({ ...OPENAI_SSE, contentType, contentEncoding });
        reader.push(new Uint8Array(0));
        expect(await reader.end()).toEqual({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, source: "estimated" });
        expect(reader.malformed).toBe(0);
      }
    }
  });

  it("an encoding it cannot decode (zstd, stacked codings) – malformed 1, nothing guessed", async () => {
    for (const contentEncoding of ["zstd", "gzip, br"]) {
      const result = await readAll({ ...OPENAI_SSE, contentEncoding }, usageChunk(5, 2));
      expect(result).toMatchObject({ malformed: 1, count: { inputTokens: 0, outputTokens: 0, source: "estimated" } });
    }
  });

  it("random bytes through every provider's reader, in every framing and encoding – never throws", async () => {
    const next = random(7);
    const noise = Uint8Array.from({ length: 64 * 1024 }, () => Math.floor(next() * 256));
    for (const c of STREAM_CASES) {
      for (const contentType of ["text/event-stream", "application/x-ndjson", "application/json"]) {
        for (const contentEncoding of [undefined, "gzip", "br"]) {
          const reader = createUsageReader({ provider: c.provider, operation: c.operation, stream: true, contentType, contentEncoding, maxEventBytes: 4096 });
          for (const piece of randomSplits(noise, 1, contentType.length, 4096)[0]!) reader.push(piece);
          reader.current();
          await expect(reader.end()).resolves.toMatchObject({ inputTokens: expect.any(Number) });
        }
      }
    }
  });

  it("unknown provider or a bad bound – a clear TollgateError at creation", () => {
    expect(() => createUsageReader({ ...OPENAI_SSE, provider: "bedrock" as never })).toThrow('no usage format for LLM provider "bedrock"');
    expect(() => createUsageReader({ ...OPENAI_SSE, maxEventBytes: 0 })).toThrow("maxEventBytes must be a positive integer, got 0");
  });
});

describe("bounds: one event, one line, one JSON token; state stays bounded", () => {
  const bound = 2048;

  it("an SSE event over the bound is dropped whole (malformed 1) and the next event is read", async () => {
    const huge = textChunk("x".repeat(10_000));
    const result = await readAll({ ...OPENAI_SSE, maxEventBytes: bound }, textChunk("ok") + huge + usageChunk(5, 2));
    expect(result).toMatchObject({ malformed: 1, count: { inputTokens: 5, outputTokens: 2 } });
  });

  it("an event over the bound through many short data lines, split byte by byte", async () => {
    const many = `${"data: aaaaaaaaaa\n".repeat(400)}\n`;
    const reader = createUsageReader({ ...OPENAI_SSE, maxEventBytes: bound });
    for (const b of encoder.encode(many + usageChunk(5, 2))) reader.push(Uint8Array.of(b));
    expect(await reader.end()).toMatchObject({ inputTokens: 5, outputTokens: 2 });
    expect(reader.malformed).toBe(1);
  });

  it("an NDJSON line over the bound is dropped and the next line is read", async () => {
    const options: UsageReaderOptions = { provider: "ollama", operation: "chat", stream: true, contentType: "application/x-ndjson", maxEventBytes: bound };
    const body = `${JSON.stringify({ message: { content: "y".repeat(5000) }, done: false })}\n{"message":{"content":""},"done":true,"prompt_eval_count":4,"eval_count":9}\n`;
    expect(await readAll(options, body)).toMatchObject({ malformed: 1, count: { inputTokens: 4, outputTokens: 9 } });
  });

  it("a 10 MB plain JSON response (embeddings) – usage at its end is read, nothing over the bound", async () => {
    const vector = Array.from({ length: 1536 }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const item = JSON.stringify({ object: "embedding", index: 0, embedding: vector });
    const items = Array<string>(Math.ceil(10_000_000 / item.length)).fill(item).join(",");
    const body = encoder.encode(`{"object":"list","data":[${items}],"model":"text-embedding-3-small","usage":{"prompt_tokens":81920,"total_tokens":81920}}`);
    expect(body.length).toBeGreaterThan(10_000_000);
    const reader = createUsageReader({ provider: "openai", operation: "embedding", stream: false, contentType: "application/json", maxEventBytes: bound });
    for (let at = 0; at < body.length; at += 65_536) reader.push(body.subarray(at, at + 65_536));
    expect(await reader.end()).toEqual({ inputTokens: 81920, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, source: "reported" });
    expect(reader.malformed).toBe(0);
  });

  it("a single JSON string longer than the bound – malformed 1, the rest is not buffered", async () => {
    const body = `{"choices":[{"message":{"content":"${"z".repeat(50_000)}"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`;
    const result = await readAll({ provider: "openai", operation: "chat", stream: false, contentType: "application/json", maxEventBytes: bound }, body);
    expect(result.malformed).toBe(1);
  });

  it("nesting deeper than any provider uses – malformed 1", async () => {
    const body = `{"a":${"[".repeat(1000)}${"]".repeat(1000)},"usage":{"prompt_tokens":1}}`;
    expect((await readAll({ provider: "openai", operation: "embedding", stream: false, contentType: "application/json" }, body)).malformed).toBe(1);
  });

  it("a stream that never ends: 100 MB of one unterminated event keeps the heap flat and current() answering", async () => {
    const reader = createUsageReader({ ...OPENAI_SSE, maxEventBytes: 64 * 1024 });
    reader.push(encoder.encode(textChunk("before the flood")));
    const piece = encoder.encode("a".repeat(1024 * 1024));
    reader.push(encoder.encode("data: "));
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    for (let i = 0; i < 100; i++) {
      reader.push(piece);
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    // Kept, 100 MB of text would be 100-200 MB of heap; dropped, it is garbage collected as it goes.
    expect(peak - before).toBeLessThan(48 * 1024 * 1024);
    expect(reader.malformed).toBe(1);
    expect(reader.current()).toMatchObject({ source: "estimated", outputTokens: estimateTextTokens("before the flood") });
    reader.push(encoder.encode(`\n\n${usageChunk(3, 4)}`));
    expect(reader.current()).toMatchObject({ source: "reported", inputTokens: 3, outputTokens: 4 });
  });

  it("a never-ending stream of valid chunks – the text estimate keeps up without keeping the text", async () => {
    const reader = createUsageReader(OPENAI_SSE);
    const chunk = encoder.encode(textChunk("lorem ipsum dolor sit amet, "));
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200_000; i++) reader.push(chunk);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(48 * 1024 * 1024);
    const perChunk = estimateTextTokens("lorem ipsum dolor sit amet, ".repeat(100)) / 100;
    expect(reader.current().outputTokens / 200_000).toBeCloseTo(perChunk, 0);
    expect(reader.malformed).toBe(0);
  });
});

describe("current(): the best count so far, mid-stream", () => {
  it("Anthropic – input and cache tokens from message_start at once; output grows with the text until message_delta", () => {
    const anthropic = STREAM_CASES.find((c) => c.provider === "anthropic" && c.expected.outputTokens === 15)!;
    const reader = createUsageReader({ provider: "anthropic", operation: "chat", stream: true, contentType: "text/event-stream" });
    const events = anthropic.body.split("\n\n").filter((e) => e !== "").map((e) => `${e}\n\n`);
    reader.push(encoder.encode(events[0]!));
    expect(reader.current()).toEqual({ inputTokens: 2125, outputTokens: 1, cacheReadTokens: 2000, cacheWriteTokens: 100, source: "reported" });
    let last = 1;
    for (const e of events.slice(1, -2)) {
      reader.push(encoder.encode(e));
      expect(reader.current().outputTokens).toBeGreaterThanOrEqual(last);
      last = reader.current().outputTokens;
    }
    expect(last).toBeGreaterThan(1);
    reader.push(encoder.encode(events.at(-2)!));
    expect(reader.current().outputTokens).toBe(15);
  });

  it("OpenAI without usage – output is the estimate of the text streamed so far", () => {
    const reader = createUsageReader(OPENAI_SSE);
    reader.push(encoder.encode(textChunk("The quick brown fox")));
    expect(reader.current()).toEqual({ inputTokens: 0, outputTokens: estimateTextTokens("The quick brown fox"), cacheReadTokens: 0, cacheWriteTokens: 0, source: "estimated" });
    reader.push(encoder.encode(textChunk(" jumps over the lazy dog")));
    expect(reader.current().outputTokens).toBe(estimateTextTokens("The quick brown fox jumps over the lazy dog"));
  });

  it("push after end() is ignored and end() answers the same count again", async () => {
    const reader = createUsageReader(OPENAI_SSE);
    reader.push(encoder.encode(usageChunk(2, 3)));
    const first = await reader.end();
    reader.push(encoder.encode(usageChunk(100, 100)));
    expect(await reader.end()).toEqual(first);
  });
});
