import { spawnSync } from "node:child_process";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSse, startMockLlm, type MockLlm } from "./support/mock-llm.js";
import { repoPath } from "./support/repo.js";

const REPLY = "Hello from mock-llm. This canned reply stands in for a real model.";
const USER = [{ role: "user", content: "hello there" }]; // 11 characters -> 3 prompt tokens

let mock: MockLlm;
beforeAll(async () => {
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock.stop();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${mock.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

type Json = Record<string, unknown>;

describe("mock-llm: OpenAI /v1/chat/completions", () => {
  it("non-streaming – the canned reply with finish_reason stop and usage 3 + 12 tokens", async () => {
    const res = await post("/v1/chat/completions", { model: "gpt-4o-mini", messages: USER });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: REPLY, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 },
    });
    expect(body["id"]).toMatch(/^chatcmpl-mock-\d+$/);
    expect(typeof body["created"]).toBe("number");
  });

  it("streaming with include_usage – role chunk, 12 content chunks, finish chunk, usage chunk, [DONE]", async () => {
    const res = await post("/v1/chat/completions", { model: "m", messages: USER, stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = parseSse(await res.text());
    expect(events.every((e) => e.event === undefined)).toBe(true);
    expect(events.at(-1)!.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as Json);
    expect(chunks).toHaveLength(15);
    expect(chunks.every((c) => c["object"] === "chat.completion.chunk" && c["model"] === "m")).toBe(true);
    expect(new Set(chunks.map((c) => c["id"])).size).toBe(1);
    expect(chunks[0]).toMatchObject({ choices: [{ delta: { role: "assistant", content: "" }, finish_reason: null }], usage: null });
    const text = chunks.slice(1, 13).map((c) => (c["choices"] as { delta: { content: string } }[])[0]!.delta.content).join("");
    expect(text).toBe(REPLY);
    expect(chunks[13]).toMatchObject({ choices: [{ delta: {}, finish_reason: "stop" }], usage: null });
    expect(chunks[14]).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 } });
  });

  it("streaming without include_usage – no usage field and no usage chunk, as OpenAI does", async () => {
    const res = await post("/v1/chat/completions", { model: "m", messages: USER, stream: true });
    const events = parseSse(await res.text());
    expect(events).toHaveLength(15);
    expect(events.at(-1)!.data).toBe("[DONE]");
    for (const e of events.slice(0, -1)) expect(Object.keys(JSON.parse(e.data) as Json)).not.toContain("usage");
  });

  it("max_tokens 3 – cut after three pieces with finish_reason length", async () => {
    const body = (await (await post("/v1/chat/completions", { model: "m", messages: USER, max_tokens: 3 })).json()) as Json;
    expect(body).toMatchObject({
      choices: [{ message: { content: "Hello from mock-llm." }, finish_reason: "length" }],
      usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
    });
  });

  it("max_completion_tokens is honoured like max_tokens, content parts count toward the prompt", async () => {
    const messages = [{ role: "user", content: [{ type: "text", text: "12345678" }, { type: "image_url", image_url: { url: "x" } }] }];
    const body = (await (await post("/v1/chat/completions", { model: "m", messages, max_completion_tokens: 1 })).json()) as Json;
    expect(body).toMatchObject({ choices: [{ message: { content: "Hello" } }], usage: { prompt_tokens: 2, completion_tokens: 1 } });
  });
});

describe("mock-llm: Anthropic /v1/messages", () => {
  it("non-streaming – one text block, stop_reason end_turn, usage input 3 / output 12", async () => {
    const res = await post("/v1/messages", { model: "claude-3-5-haiku", max_tokens: 100, messages: USER });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      type: "message",
      role: "assistant",
      model: "claude-3-5-haiku",
      content: [{ type: "text", text: REPLY }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 12 },
    });
    expect(body["id"]).toMatch(/^msg_mock_\d+$/);
  });

  it("streaming – message_start … content_block_delta ×12 … message_delta with usage, message_stop", async () => {
    const res = await post("/v1/messages", { model: "c", max_tokens: 100, system: "be brief", messages: USER, stream: true });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      ...Array<string>(12).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const data = events.map((e) => JSON.parse(e.data) as Json);
    data.forEach((d, i) => expect(d["type"]).toBe(events[i]!.event));
    // "be brief" (8) + "hello there" (11) = 19 characters -> 5 tokens
    expect(data[0]).toMatchObject({ message: { model: "c", content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } });
    const text = data.slice(3, 15).map((d) => (d["delta"] as { type: string; text: string }).text).join("");
    expect(text).toBe(REPLY);
    expect(data[16]).toEqual({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 12 } });
  });

  it("max_tokens 2 – stop_reason max_tokens and output_tokens 2", async () => {
    const body = (await (await post("/v1/messages", { model: "c", max_tokens: 2, messages: USER })).json()) as Json;
    expect(body).toMatchObject({ content: [{ text: "Hello from" }], stop_reason: "max_tokens", usage: { output_tokens: 2 } });
  });
});

describe("mock-llm: what tests and demos inspect", () => {
  it("GET /healthz – 200 {status: ok}", async () => {
    const res = await fetch(`${mock.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("GET /debug/last-request – echoes the headers, path and body the upstream received", async () => {
    const sent = { model: "m", messages: USER };
    await post("/v1/chat/completions?trace=1", sent, { authorization: "Bearer sk-injected-by-tollgate", "x-tollgate-tenant": "acme", "x-tollgate-upstream": "mock-llm" });
    const last = (await (await fetch(`${mock.url}/debug/last-request`)).json()) as Json;
    expect(last).toMatchObject({ method: "POST", path: "/v1/chat/completions?trace=1", body: JSON.stringify(sent), json: sent });
    expect(last["headers"]).toMatchObject({
      authorization: "Bearer sk-injected-by-tollgate",
      "x-tollgate-tenant": "acme",
      "x-tollgate-upstream": "mock-llm",
      "content-type": "application/json",
    });
  });

  it("/debug and /healthz calls do not replace the recorded request", async () => {
    await post("/v1/messages", { model: "keep-me", max_tokens: 1, messages: USER });
    await fetch(`${mock.url}/healthz`);
    await fetch(`${mock.url}/debug/last-request`);
    const last = (await (await fetch(`${mock.url}/debug/last-request`)).json()) as Json;
    expect(last["path"]).toBe("/v1/messages");
    expect((last["json"] as Json)["model"]).toBe("keep-me");
  });
});

describe("mock-llm: bad input gets provider-style errors, never a crash", () => {
  const cases: { title: string; path: string; body: unknown; status: number; error: Json }[] = [
    { title: "OpenAI, body is not JSON", path: "/v1/chat/completions", body: "{not json", status: 400, error: { error: { message: "could not parse the JSON body of your request", type: "invalid_request_error", param: null, code: null } } },
    { title: "Anthropic, body is not JSON", path: "/v1/messages", body: "{not json", status: 400, error: { type: "error", error: { type: "invalid_request_error", message: "could not parse the JSON body of your request" } } },
    { title: "OpenAI, JSON array instead of object", path: "/v1/chat/completions", body: "[1]", status: 400, error: { error: { message: "the request body must be a JSON object" } } },
    { title: "OpenAI, no model", path: "/v1/chat/completions", body: { messages: USER }, status: 400, error: { error: { message: "you must provide a model parameter" } } },
    { title: "OpenAI, messages not a list", path: "/v1/chat/completions", body: { model: "m", messages: "hi" }, status: 400, error: { error: { message: "'messages' must be a non-empty array" } } },
    { title: "OpenAI, max_tokens 0", path: "/v1/chat/completions", body: { model: "m", messages: USER, max_tokens: 0 }, status: 400, error: { error: { message: "'max_tokens' must be a positive integer" } } },
    { title: "Anthropic, no max_tokens", path: "/v1/messages", body: { model: "c", messages: USER }, status: 400, error: { error: { type: "invalid_request_error", message: "max_tokens: Field required (a positive integer)" } } },
    { title: "Anthropic, empty messages", path: "/v1/messages", body: { model: "c", max_tokens: 5, messages: [] }, status: 400, error: { error: { message: "messages: must be a non-empty array" } } },
  ];
  it.each(cases)("$title – $status", async ({ path, body, status, error }) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject(error);
  });

  it("unknown path – 404; GET on an API path – 405 with allow: POST", async () => {
    const missing = await fetch(`${mock.url}/v1/embeddings`, { method: "POST", body: "{}" });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { message: "Unknown request URL: POST /v1/embeddings" } });
    const wrong = await fetch(`${mock.url}/v1/messages`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    expect(await wrong.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });

  it("x-mock-status forces an error: 429 as Anthropic rate_limit_error, 503 as OpenAI server_error", async () => {
    const limited = await post("/v1/messages", { model: "c", max_tokens: 1, messages: USER }, { "x-mock-status": "429" });
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    const down = await post("/v1/chat/completions", { model: "m", messages: USER }, { "x-mock-status": "503" });
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: { type: "server_error" } });
  });

  it("malformed HTTP on the socket – 400 and the server keeps serving", async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const url = new URL(mock.url);
      const socket = connect(Number(url.port), url.hostname, () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString()));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(reply.startsWith("HTTP/1.1 400 Bad Request")).toBe(true);
    expect((await fetch(`${mock.url}/healthz`)).status).toBe(200);
  });

  it("a client that hangs up mid-stream does not take the server down", async () => {
    const slow = await startMockLlm({ MOCK_CHUNK_DELAY_MS: "30" });
    try {
      const controller = new AbortController();
      const res = await fetch(`${slow.url}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "m", messages: USER, stream: true }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      controller.abort();
      await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`${slow.url}/healthz`)).status).toBe(200);
    } finally {
      expect(await slow.stop()).toBe(0);
    }
  });
});

describe("mock-llm: limits and process behaviour", () => {
  it("a body over MOCK_MAX_BODY_BYTES – 413 in the provider's error shape, then business as usual", async () => {
    const small = await startMockLlm({ MOCK_MAX_BODY_BYTES: "1024" });
    try {
      const big = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(2000) }] });
      const res = await fetch(`${small.url}/v1/chat/completions`, { method: "POST", body: big });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ error: { message: "request body exceeds 1024 bytes", type: "invalid_request_error", param: null, code: null } });
      const chunked = await fetch(`${small.url}/v1/messages`, {
        method: "POST",
        body: new Blob([big]).stream(),
        duplex: "half",
      } as RequestInit & { duplex: "half" });
      expect(chunked.status).toBe(413);
      expect((await fetch(`${small.url}/healthz`)).status).toBe(200);
    } finally {
      await small.stop();
    }
  });

  it("exits 0 on SIGTERM (Node as PID 1 would otherwise ignore it)", async () => {
    const other = await startMockLlm();
    expect(await other.stop()).toBe(0);
  });

  it("refuses a PORT that is not a number, with a clear message and exit code 2", () => {
    const run = spawnSync(process.execPath, [repoPath("mock-llm/server.mjs")], { env: { ...process.env, PORT: "eighty" }, encoding: "utf8", timeout: 5000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('mock-llm: PORT must be a non-negative integer, got "eighty"');
  });
});
