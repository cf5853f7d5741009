import { describe, expect, it } from "vitest";
import { createUsageReader, type UsageCount } from "../../../src/llm/usage/index.js";
import { DOCUMENT_CASES, STREAM_CASES, type UsageCase } from "./fixtures.js";
import { byteByByte, ENCODINGS, everyTwoWaySplit, randomSplits } from "./split.js";

const encoder = new TextEncoder();

async function read(c: UsageCase, pieces: readonly Uint8Array[], contentEncoding?: string): Promise<{ count: UsageCount; malformed: number }> {
  const reader = createUsageReader({ provider: c.provider, operation: c.operation, stream: c.stream, contentType: c.contentType, contentEncoding });
  for (const piece of pieces) reader.push(piece);
  const count = await reader.end();
  return { count, malformed: reader.malformed };
}

/** Runs every split and returns the distinct outcomes: one when the reader is boundary-proof. */
async function outcomes(c: UsageCase, splits: readonly (readonly Uint8Array[])[], contentEncoding?: string): Promise<string[]> {
  const seen = new Set<string>();
  for (const pieces of splits) seen.add(JSON.stringify(await read(c, pieces, contentEncoding)));
  return [...seen];
}

const ALL_CASES = [...STREAM_CASES, ...DOCUMENT_CASES];

describe("usage reader: each provider's own bodies, split at every byte boundary", () => {
  it.each(ALL_CASES)("$provider/$operation – $name", async (c) => {
    const bytes = encoder.encode(c.body);
    const splits = [[bytes], byteByByte(bytes), ...everyTwoWaySplit(bytes), ...randomSplits(bytes, 20, bytes.length)];
    expect(await outcomes(c, splits)).toEqual([JSON.stringify({ count: c.expected, malformed: 0 })]);
  });
});

describe("usage reader: compressed bodies decoded incrementally", () => {
  const cases = ALL_CASES.flatMap((c) => ENCODINGS.map((e) => ({ ...c, encoding: e })));
  it.each(cases)("$encoding.name – $provider/$operation – $name", async (c) => {
    const compressed = c.encoding.encode(encoder.encode(c.body));
    const splits = [[compressed], byteByByte(compressed), ...randomSplits(compressed, 8, compressed.length, 16)];
    expect(await outcomes(c, splits, c.encoding.name)).toEqual([JSON.stringify({ count: c.expected, malformed: 0 })]);
  });
});

describe("usage reader: framing from the content type, else from the stream flag", () => {
  it("no content type and stream true – Ollama reads NDJSON, Anthropic SSE", async () => {
    for (const c of STREAM_CASES.filter((s) => s.provider === "ollama" || s.provider === "anthropic")) {
      const { count, malformed } = await read({ ...c, contentType: "" }, [encoder.encode(c.body)]);
      expect({ count, malformed }).toEqual({ count: c.expected, malformed: 0 });
    }
  });

  it("an SSE content type wins over a stream flag that says false", async () => {
    const c = STREAM_CASES[0]!;
    expect((await read({ ...c, stream: false }, [encoder.encode(c.body)])).count).toEqual(c.expected);
  });

  it("operation aliases (messages, embeddings) read like chat and embedding", async () => {
    const anthropic = STREAM_CASES.find((s) => s.provider === "anthropic")!;
    expect((await read({ ...anthropic, operation: "messages" }, [encoder.encode(anthropic.body)])).count).toEqual(anthropic.expected);
  });
});

describe("estimated output of a long stream", () => {
  it("estimating block by block stays within 2% of estimating the whole text at once", async () => {
    const { estimateTextTokens } = await import("../../../src/llm/estimate-tokens.js");
    const sentences = ["The quick brown fox jumps over the lazy dog.", "Überprüfung der Größenordnung: 12345 Einträge.", "東京は日本の首都です。", "const answer = compute(42, \"x\");\n", "Emoji 👋🏽 and more — dashes…", "\n\n## Heading\n- item one\n- item two\n"];
    const pieces: string[] = [];
    for (let i = 0; i < 3000; i++) pieces.push(sentences[i % sentences.length]!.slice(0, 5 + (i % 40)), " ");
    const reader = createUsageReader({ provider: "openai", operation: "chat", stream: true, contentType: "text/event-stream" });
    for (const p of pieces) reader.push(encoder.encode(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: p } }] })}\n\n`));
    const streamed = (await reader.end()).outputTokens;
    const whole = estimateTextTokens(pieces.join(""));
    expect(Math.abs(streamed - whole) / whole).toBeLessThan(0.02);
  });
});
