import { createParser, type EventSourceMessage } from "eventsource-parser";
import { describe, expect, it } from "vitest";
import { createUsageReader, streamStopChunk } from "../../../src/llm/usage/index.js";
import type { ProviderId } from "../../../src/llm/types.js";

const MESSAGE = "tollgate: token budget of tenant acme exhausted (limit tokens_per_minute)";
const decoder = new TextDecoder();

function sseEvents(bytes: Uint8Array): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(decoder.decode(bytes));
  return events;
}

/**
 * What each SDK checks to raise an API error, parsed back with a real SSE parser:
 * openai-node Stream throws APIError when a data event (no event name) has `error`, or on an
 * `event: error` (Responses); @anthropic-ai/sdk throws APIError on `event: error` with error.type;
 * @google/genai throws ApiError on a chunk whose error.code is 400-599; ollama-js throws on a line
 * with `error`.
 */
describe("streamStopChunk: the provider's own streaming error, as its SDK reads it", () => {
  const openAiFamily: { provider: ProviderId; error: Record<string, unknown> }[] = [
    { provider: "openai", error: { message: MESSAGE, type: "requests", param: null, code: "rate_limit_exceeded" } },
    { provider: "azure_openai", error: { code: "429", message: MESSAGE } },
    { provider: "mistral", error: { message: MESSAGE, type: "requests", param: null, code: "rate_limit_exceeded" } },
  ];
  it.each(openAiFamily)("$provider chat – a data event with `error`, then [DONE]", ({ provider, error }) => {
    const events = sseEvents(streamStopChunk({ provider, operation: "chat", message: MESSAGE }));
    expect(events.map((e) => e.event)).toEqual([undefined, undefined]);
    expect(JSON.parse(events[0]!.data)).toEqual({ error });
    expect(events[1]!.data).toBe("[DONE]");
  });

  it("OpenAI Responses – `event: error` with type, code, message, param", () => {
    const events = sseEvents(streamStopChunk({ provider: "openai", operation: "responses", message: MESSAGE }));
    expect(events).toHaveLength(1);
    expect(events[0]!.event).toBe("error");
    expect(JSON.parse(events[0]!.data)).toEqual({ type: "error", code: "rate_limit_exceeded", message: MESSAGE, param: null });
  });

  it("Anthropic – `event: error` with error.type rate_limit_error", () => {
    const events = sseEvents(streamStopChunk({ provider: "anthropic", operation: "chat", message: MESSAGE }));
    expect(events).toEqual([{ event: "error", id: undefined, data: JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: MESSAGE } }) }]);
  });

  it("Gemini – a data chunk with error.code 429 and status RESOURCE_EXHAUSTED", () => {
    const events = sseEvents(streamStopChunk({ provider: "gemini", operation: "chat", message: MESSAGE }));
    expect(events).toHaveLength(1);
    const error = (JSON.parse(events[0]!.data) as { error: { code: number; status: string; message: string } }).error;
    expect(error).toEqual({ code: 429, message: MESSAGE, status: "RESOURCE_EXHAUSTED" });
    expect(error.code >= 400 && error.code < 600).toBe(true);
  });

  it("Ollama – one NDJSON line {error}", () => {
    const text = decoder.decode(streamStopChunk({ provider: "ollama", operation: "chat", message: MESSAGE }));
    expect(text.endsWith("\n")).toBe(true);
    expect(text.slice(0, -1).includes("\n")).toBe(false);
    expect(JSON.parse(text)).toEqual({ error: MESSAGE });
  });

  it("a message with quotes, newlines and non-ASCII stays one well-formed event", () => {
    const message = 'line one\nline "two"\r\n\u2028 ünïcode 👋';
    for (const provider of ["openai", "anthropic", "gemini", "mistral", "azure_openai"] as const) {
      const events = sseEvents(streamStopChunk({ provider, operation: "chat", message }));
      expect(JSON.stringify(JSON.parse(events[0]!.data))).toContain(JSON.stringify(message).slice(1, -1));
    }
  });

  it.each(["openai", "azure_openai", "anthropic", "gemini", "mistral", "ollama"] as const)(
    "%s – appended to a stream, the usage reader reads it as an upstream error, not as malformed",
    async (provider) => {
      const reader = createUsageReader({ provider, operation: "chat", stream: true, contentType: provider === "ollama" ? "application/x-ndjson" : "text/event-stream" });
      reader.push(streamStopChunk({ provider, operation: "chat", message: MESSAGE }));
      await reader.end();
      expect(reader.malformed).toBe(0);
    },
  );
});
