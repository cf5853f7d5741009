/**
 * The official SDKs (openai, @anthropic-ai/sdk, ollama; devDependencies) raise an API error on the
 * bytes streamStopChunk puts in place of a chunk. A local HTTP server stands in for the provider
 * (none can be called from here): it streams a few of the provider's own events, then the stop
 * chunk, as tollgate's ext_proc leaves the response after stopping it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import OpenAI, { AzureOpenAI } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProviderId } from "../../../src/llm/types.js";
import { streamStopChunk } from "../../../src/llm/usage/index.js";

const MESSAGE = "tollgate: token budget exhausted for tenant acme (tokens_per_minute)";

/** What the upstream had sent before the stop: a couple of ordinary events per provider. */
const PREFIX: Record<string, { contentType: string; body: string }> = {
  chat: {
    contentType: "text/event-stream",
    body: ["Hello", " from"].map((t) => `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })}\n\n`).join(""),
  },
  responses: {
    contentType: "text/event-stream",
    body: ["Hello", " from"].map((t, i) => `event: response.output_text.delta\ndata: ${JSON.stringify({ type: "response.output_text.delta", sequence_number: i, item_id: "msg_1", output_index: 0, content_index: 0, delta: t })}\n\n`).join(""),
  },
  anthropic: {
    contentType: "text/event-stream",
    body: [
      `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "c", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } } })}\n\n`,
      `event: content_block_start\ndata: ${JSON.stringify({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })}\n\n`,
      ...["Hello", " from"].map((t) => `event: content_block_delta\ndata: ${JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: t } })}\n\n`),
    ].join(""),
  },
  ollama: {
    contentType: "application/x-ndjson",
    body: ["Hello", " from"].map((t) => `${JSON.stringify({ model: "l", created_at: "2024-08-07T03:57:33Z", message: { role: "assistant", content: t }, done: false })}\n`).join(""),
  },
};

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    // /{provider}/{operation}/… : the prefix for that API, then the stop chunk.
    const [, provider, operation] = (req.url ?? "").split("/") as [string, ProviderId, string];
    const prefix = PREFIX[provider === "anthropic" || provider === "ollama" ? provider : operation]!;
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": prefix.contentType });
      res.write(prefix.body);
      res.end(streamStopChunk({ provider, operation, message: MESSAGE }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** Iterates a stream, collecting text until it throws; returns the text and what was thrown. */
async function drain<T>(stream: AsyncIterable<T>, text: (item: T) => string | undefined): Promise<{ text: string; error: unknown }> {
  let collected = "";
  try {
    for await (const item of stream) collected += text(item) ?? "";
  } catch (error) {
    return { text: collected, error };
  }
  return { text: collected, error: undefined };
}

const USER = [{ role: "user" as const, content: "hi" }];

describe("SDKs raise their API error on streamStopChunk, after the text sent before it", () => {
  it("openai – chat completions: APIError carrying the message and code", async () => {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${base}/openai/chat`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: USER, stream: true });
    const { text, error } = await drain(stream, (c) => c.choices[0]?.delta.content ?? undefined);
    expect(text).toBe("Hello from");
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain(MESSAGE);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("rate_limit_exceeded");
  });

  it("openai – Responses API: APIError from the `error` event", async () => {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${base}/openai/responses`, maxRetries: 0 });
    const stream = await client.responses.create({ model: "gpt-4.1", input: "hi", stream: true });
    const { text, error } = await drain(stream, (e) => (e.type === "response.output_text.delta" ? e.delta : undefined));
    expect(text).toBe("Hello from");
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain(MESSAGE);
  });

  it("openai AzureOpenAI client – APIError", async () => {
    const client = new AzureOpenAI({ apiKey: "k", baseURL: `${base}/azure_openai/chat`, apiVersion: "2024-10-21", maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "gpt4o", messages: USER, stream: true });
    const { text, error } = await drain(stream, (c) => c.choices[0]?.delta.content ?? undefined);
    expect(text).toBe("Hello from");
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain(MESSAGE);
  });

  it("openai SDK against Mistral's OpenAI-compatible API – APIError", async () => {
    const client = new OpenAI({ apiKey: "k", baseURL: `${base}/mistral/chat`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "mistral-large-latest", messages: USER, stream: true });
    const { error } = await drain(stream, (c) => c.choices[0]?.delta.content ?? undefined);
    expect(error).toBeInstanceOf(OpenAI.APIError);
  });

  it("@anthropic-ai/sdk – APIError with error type rate_limit_error", async () => {
    const client = new Anthropic({ apiKey: "k", baseURL: `${base}/anthropic/chat`, maxRetries: 0 });
    const stream = await client.messages.create({ model: "claude-sonnet-4-5", max_tokens: 100, messages: USER, stream: true });
    const { text, error } = await drain(stream, (e) => (e.type === "content_block_delta" && e.delta.type === "text_delta" ? e.delta.text : undefined));
    expect(text).toBe("Hello from");
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as Error).message).toContain(MESSAGE);
    expect((error as Error).message).toContain("rate_limit_error");
  });

  it("ollama-js – throws the error line's message", async () => {
    const client = new Ollama({ host: `${base}/ollama/chat` });
    const stream = await client.chat({ model: "llama3.2", messages: USER, stream: true });
    const { text, error } = await drain(stream, (m) => m.message.content);
    expect(text).toBe("Hello from");
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(MESSAGE);
  });
});
