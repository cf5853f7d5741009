import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { decodeReservation, RESERVATION_METADATA_KEY, type Reservation } from "../../src/limits/reservation.js";
import { startMockLlm, type MockLlm } from "../deploy/support/mock-llm.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { EnvoyExtProcDriver, filterConfigFromEnvoyYaml, splitAnywhere, type DriveResult } from "./envoy-driver.js";
import { estimateTextTokens } from "../../src/llm/estimate-tokens.js";
import { callUpstream, llmCheck, metadataAfterCheck, packWithTenants, reconciledLine, reportedUsage, startEarlyInMinute, type LlmCall } from "./stack.js";
import { writeReservationKey, type ReservationKeyFile } from "../support/reservation-key.js";

// Reserve (a real gRPC Check on the shipped LLM pack, compiled to WASM, counted in the shared
// Redis) -> stream (mock-llm, the provider stand-in, over real HTTP, cut at arbitrary byte
// boundaries) -> ext_proc (tollgate's real gRPC server, driven as Envoy's filter drives it; Envoy
// itself cannot run here) -> reconcile. Counters are read back from Redis.

const run = randomBytes(4).toString("hex");
const KEY = `tg-extproc-${run}-main`;
const SMALL_KEY = `tg-extproc-${run}-small`;
const tenant = `x${run}`;
const smallTenant = `y${run}`;
const STOP_KEY = `tg-extproc-${run}-stop`;
const stopTenant = `z${run}`;
/** One tenant of tokens_per_minute 1000 per provider stopped mid-text, so each starts with its whole budget. */
const midTextTenants = ["gemini", "ollama", "mistral", "responses"].map((name) => ({ name: `${name.slice(0, 2)}${run}`, apiKey: `tg-extproc-${run}-stop-${name}` }));

const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Say hello in French, with some détails — ünïcode 🎉." }],
  ...extra,
});

describe("ext_proc end to end: reserve -> stream -> reconcile (real Check, real Redis, mock-llm)", () => {
  let t: TestApp;
  let mock: MockLlm;
  let driver: EnvoyExtProcDriver;
  let redis: Redis;
  let keyFile: ReservationKeyFile;
  let key: Buffer;
  let seed = 1;

  beforeAll(async () => {
    keyFile = writeReservationKey();
    key = keyFile.key;
    redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    const policies = packWithTenants([
      { name: tenant, apiKey: KEY, limits: { requests_per_minute: 100_000, tokens_per_minute: 10_000_000, tokens_per_day: 100_000_000 } },
      { name: smallTenant, apiKey: SMALL_KEY, limits: { tokens_per_minute: 1_000 } },
      { name: stopTenant, apiKey: STOP_KEY, limits: { tokens_per_minute: 1_000 } },
      ...midTextTenants.map((m) => ({ ...m, limits: { tokens_per_minute: 1_000 } })),
    ]);
    t = await startTestApp(policies, { redisUrl: "redis://127.0.0.1:6379", reservationKeyFile: keyFile.file });
    mock = await startMockLlm();
    // envoy.yaml's settings, except message_timeout: here one event loop plays Envoy, tollgate and
    // the client on a shared 2-core machine, so a 0.5 s stall is not tollgate being slow.
    driver = new EnvoyExtProcDriver(`127.0.0.1:${t.app.grpcPort}`, { ...filterConfigFromEnvoyYaml(), messageTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    driver?.close();
    await mock?.stop();
    await t?.close();
    const keys = await redis.keys(`tollgate:{policy}:*:tenant:?${run}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    keyFile?.remove();
  });

  // Each case reserves and reconciles within a few seconds; none may straddle a minute (see startEarlyInMinute).
  beforeEach(() => startEarlyInMinute(5_000));

  /** Redis key of a reserved counter in the window it was counted in. */
  const redisKey = (c: Reservation["counters"][number]) => `tollgate:{${c.hashTag}}:${c.key}:${c.windowStartMs / 1000}`;
  const counterValue = async (c: Reservation["counters"][number]) => Number((await redis.get(redisKey(c))) ?? 0);

  async function reserve(call: LlmCall, apiKey = KEY): Promise<{ reservation: Reservation; metadata: Record<string, Record<string, unknown>> }> {
    const res = await t.check(llmCheck(call, apiKey));
    expect(res.status?.code, JSON.stringify(res.deniedResponse?.body)).toBe(0);
    return { reservation: decodeReservation(res.dynamicMetadata?.[RESERVATION_METADATA_KEY], key, Date.now()), metadata: metadataAfterCheck(res) };
  }

  async function roundTrip(call: LlmCall, opts: { apiKey?: string; resetAfterChunks?: number } = {}): Promise<{ reservation: Reservation; result: DriveResult; line: Record<string, unknown> }> {
    const { reservation, metadata } = await reserve(call, opts.apiKey);
    const response = await callUpstream(mock.url, call, seed++);
    const result = await driver.drive({ metadata, response, ...(opts.resetAfterChunks !== undefined ? { resetAfterChunks: opts.resetAfterChunks } : {}) });
    const line = await reconciledLine(t.logs, reservation.decisionId);
    return { reservation, result, line };
  }

  const streams: [string, "openai" | "anthropic" | "gemini" | "ollama", LlmCall][] = [
    ["OpenAI chat completions, SSE with stream_options.include_usage", "openai", { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 4096 }) }],
    ["Anthropic messages, SSE message_start + message_delta", "anthropic", { path: "/v1/messages", body: { model: "claude-3-5-haiku-latest", max_tokens: 4096, stream: true, messages: [{ role: "user", content: "Bonjour — ça va? 🎉" }] }, mock: { "x-mock-cache-read": "40", "x-mock-cache-write": "12" } }],
    ["Gemini streamGenerateContent, SSE usageMetadata", "gemini", { path: "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse", body: { contents: [{ role: "user", parts: [{ text: "Hallo — grüß dich 🎉" }] }], generationConfig: { maxOutputTokens: 4096 } } }],
    ["Ollama chat, NDJSON prompt_eval_count + eval_count", "ollama", { path: "/api/chat", body: { model: "llama3.2", messages: [{ role: "user", content: "Hola — ¿qué tal? 🎉" }], options: { num_predict: 4096 } } }],
    ["OpenAI chat completions, plain JSON (not streamed)", "openai", { path: "/v1/chat/completions", body: chat({ max_tokens: 4096 }), mock: { "x-mock-reply-tokens": "300" } }],
  ];

  it.each(streams)("%s: the counters end exactly at the reported usage, and the client gets the body unchanged", async (_title, provider, call) => {
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    const response = await callUpstream(mock.url, call, seed++);
    const result = await driver.drive({ metadata, response });
    const line = await reconciledLine(t.logs, reservation.decisionId);

    const usage = reportedUsage(provider, result.body.toString("utf8"));
    const actual = usage.input + usage.output;
    expect(result.ending).toBe("complete");
    expect(line).toMatchObject({ outcome: "completed", usage_source: "reported", input_tokens: usage.input, output_tokens: usage.output, actual_tokens: actual });
    expect(reservation.counters.length).toBeGreaterThan(0);
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(before[i]! - c.reserved + actual));
    // The access log's tokens field: what tollgate wrote back under its receiving namespace.
    expect(result.metadata["tollgate.usage"]).toMatchObject({ decision_id: reservation.decisionId, actual_tokens: actual, usage_source: "reported" });
  });

  it("many responses on one tenant: each counter equals the sum of what was reserved minus refunds, i.e. exactly the sum of actual usage", async () => {
    // 12 streams at once take a few seconds here, many more on a loaded machine.
    await startEarlyInMinute(20_000);
    const byKey = new Map<string, { counter: Reservation["counters"][number]; before: number; actual: number }>();
    const calls = Array.from({ length: 12 }, (_, i) => ({ path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 2000 }), mock: { "x-mock-reply-tokens": String(5 + i * 7) } }));
    const done = await Promise.all(
      calls.map(async (call) => {
        const { reservation, metadata } = await reserve(call);
        for (const c of reservation.counters) if (!byKey.has(redisKey(c))) byKey.set(redisKey(c), { counter: c, before: -1, actual: 0 });
        return { reservation, metadata, call };
      }),
    );
    // Reserved: every counter holds the sum of the reservations (plus anything earlier tests left).
    const reservedNow = new Map([...byKey].map(([k]) => [k, 0]));
    for (const d of done) for (const c of d.reservation.counters) reservedNow.set(redisKey(c), reservedNow.get(redisKey(c))! + c.reserved);
    for (const [k, v] of byKey) v.before = (await counterValue(v.counter)) - reservedNow.get(k)!;
    const results = await Promise.all(done.map(async (d) => driver.drive({ metadata: d.metadata, response: await callUpstream(mock.url, d.call, seed++) })));
    for (const [i, d] of done.entries()) {
      const line = await reconciledLine(t.logs, d.reservation.decisionId);
      expect(line, `not reconciled: ${JSON.stringify(line)}`).not.toHaveProperty("error");
      for (const c of line["counters"] as Record<string, unknown>[]) expect(c, `counter not adjusted: ${JSON.stringify(line)}`).toMatchObject({ applied: true });
      const u = reportedUsage("openai", results[i]!.body.toString("utf8"));
      for (const c of d.reservation.counters) byKey.get(redisKey(c))!.actual += u.input + u.output;
    }
    for (const v of byKey.values()) expect(await counterValue(v.counter)).toBe(v.before + v.actual);
  }, 60_000);

  it("gzip: a compressed response still reconciles exactly (decoded incrementally, chunk boundaries anywhere)", async () => {
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 3000 }), mock: { "x-mock-encoding": "gzip", "x-mock-reply-tokens": "250" } };
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    const response = await callUpstream(mock.url, call, seed++);
    expect(response.headers["content-encoding"]).toBe("gzip");
    const result = await driver.drive({ metadata, response });
    const line = await reconciledLine(t.logs, reservation.decisionId);
    const { gunzipSync } = await import("node:zlib");
    const usage = reportedUsage("openai", gunzipSync(result.body).toString("utf8"));
    expect(line).toMatchObject({ outcome: "completed", output_tokens: 250, actual_tokens: usage.input + usage.output });
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(before[i]! - c.reserved + usage.input + usage.output));
  });

  it("upstream 500: the whole reservation is refunded, the error body reaches the client unchanged, and Envoy is told to skip the body", async () => {
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ stream: true, max_tokens: 3000 }), mock: { "x-mock-status": "500" } };
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    const response = await callUpstream(mock.url, call, seed++);
    const result = await driver.drive({ metadata, response });
    const line = await reconciledLine(t.logs, reservation.decisionId);
    expect(result).toMatchObject({ status: 500, ending: "complete", modeOverridden: true, messagesSent: 1 });
    expect(JSON.parse(result.body.toString("utf8"))).toHaveProperty("error");
    expect(line).toMatchObject({ outcome: "upstream_error", actual_tokens: 0 });
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(before[i]! - c.reserved));
  });

  it("client disconnect (no end_of_stream): what was counted until the gRPC stream closed is reconciled", async () => {
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 3000 }), mock: { "x-mock-reply-tokens": "400", "x-mock-chunk-delay-ms": "2" } };
    // About 3 KB of a 72 KB stream: a dozen events, some words of text.
    const { reservation, result, line } = await roundTrip(call, { resetAfterChunks: 60 });
    expect(result.ending).toBe("downstream_reset");
    expect(line["outcome"]).toBe("disconnected");
    // No usage chunk came: output is estimated from the text streamed so far, input is Check's estimate.
    expect(line["usage_source"]).toBe("estimated");
    const actual = line["actual_tokens"] as number;
    expect(actual).toBeGreaterThan(reservation.estimatedInputTokens);
    expect(actual).toBeLessThan(reservation.estimatedInputTokens + 400);
    for (const c of line["counters"] as { delta: number; applied: boolean }[]) expect(c).toMatchObject({ delta: actual - reservation.counters[0]!.reserved, applied: true });
  });

  it("a stream that crosses its budget stops at the first chunk past it, in the provider's error format, and everything after is cleared; the tokens counted include what was sent", async () => {
    // tokens_per_minute 1000. Check reserves its estimate of the prompt plus max_tokens (~320), but
    // the prompt cache adds 2000 prompt tokens Check could not see: Anthropic reports them in
    // message_start, the first event, so the stream is over budget from its first chunk.
    const call: LlmCall = {
      path: "/v1/messages",
      body: { model: "claude-3-5-haiku-latest", max_tokens: 300, stream: true, messages: [{ role: "user", content: "Summarise the cached document." }] },
      mock: { "x-mock-cache-read": "2000", "x-mock-chunk-delay-ms": "5" },
    };
    const { reservation, metadata } = await reserve(call, SMALL_KEY);
    const counted = await Promise.all(reservation.counters.map(counterValue));
    const response = await callUpstream(mock.url, call, seed++);
    const result = await driver.drive({ metadata, response });
    const line = await reconciledLine(t.logs, reservation.decisionId);

    // The client sees Anthropic's own streaming error at an event boundary (after at most the
    // message_start it already had part of), and nothing of the reply.
    const text = result.body.toString("utf8");
    const error = /event: error\ndata: \{"type":"error","error":\{"type":"rate_limit_error","message":"token budget \\"tokens_per_minute\\" exhausted[^"]*"\}\}\n\n$/;
    expect(text).toMatch(error);
    const before = text.replace(error, "");
    expect(before === "" || (before.startsWith("event: message_start\n") && before.endsWith("\n\n") && before.split("\n\n").length === 2)).toBe(true);
    expect(text).not.toContain("content_block_delta");
    expect(result.ending).toBe("complete");
    // Headers, the crossing chunk, and later chunks that were cleared.
    expect(result.messagesSent).toBeGreaterThan(3);
    // All of the response was still counted (the provider bills it): 2000 cached + prompt, 12 words.
    expect(line).toMatchObject({ outcome: "stopped", stopped_by: "tokens_per_minute", cache_read_tokens: 2000, output_tokens: 12, usage_source: "reported" });
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(counted[i]! - c.reserved + (line["actual_tokens"] as number)));
    expect(await t.app.metrics.registry.getSingleMetricAsString("tollgate_extproc_streams_stopped_total")).toMatch(/provider="anthropic"} [1-9]/);
  });

  it("OpenAI: a budget crossed in the middle of the generated text stops at the first event boundary past it, error event then [DONE]; the usage after the stop is still counted", async () => {
    // tokens_per_minute 1000, nothing else counted on it: Check reserves ~23 + 900 and the stream may
    // use 1000. mock-llm writes 900 words; the estimate of the streamed text passes 1000 - input
    // about three quarters in. The provider's usage chunk comes only at the end, after the stop.
    const call: LlmCall = {
      path: "/v1/chat/completions",
      body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 900 }),
      mock: { "x-mock-reply-tokens": "900" },
    };
    const { reservation, metadata } = await reserve(call, STOP_KEY);
    const counted = await Promise.all(reservation.counters.map(counterValue));
    const response = await callUpstream(mock.url, call, seed++);
    const result = await driver.drive({ metadata, response });
    const line = await reconciledLine(t.logs, reservation.decisionId);

    expect(result).toMatchObject({ ending: "complete", messageTimeouts: 0 });
    const text = result.body.toString("utf8");
    const stop = /data: \{"error":\{"message":"token budget \\"tokens_per_minute\\" exhausted[^"]*","type":"requests","param":null,"code":"rate_limit_exceeded"\}\}\n\ndata: \[DONE\]\n\n$/;
    expect(text).toMatch(stop);
    // Before the error: whole chunk events only, none of the end (no finish_reason, no usage).
    const before = text.replace(stop, "");
    expect(before.endsWith("\n\n")).toBe(true);
    const events = before.split("\n\n").filter((e) => e !== "").map((e) => JSON.parse(e.replace(/^data: /, "")) as { choices: { delta: { content?: string }; finish_reason: string | null }[]; usage?: unknown });
    expect(events.every((e) => e.choices.length === 1 && e.choices[0]!.finish_reason === null && !e.usage)).toBe(true);
    // It stopped where the count passed the budget, not much later: the client's text, estimated as
    // tollgate estimates it (in blocks, so a few tokens of rounding), is about the budget.
    const received = events.map((e) => e.choices[0]!.delta.content ?? "").join("");
    const budget = reservation.counters[0]!.limit;
    expect(Math.abs(reservation.estimatedInputTokens + estimateTextTokens(received) - budget)).toBeLessThan(25);
    expect(received.split(" ").length).toBeLessThan(900);
    // Everything the provider sent is counted, the usage chunk after the stop included.
    expect(line).toMatchObject({ outcome: "stopped", stopped_by: "tokens_per_minute", output_tokens: 900, usage_source: "reported" });
    expect(line["actual_tokens"]).toBe((line["input_tokens"] as number) + 900);
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(counted[i]! - c.reserved + (line["actual_tokens"] as number)));
  });

  // The other stoppable framings, crossing mid-text the same way: the provider's own error at an event boundary, nothing after it.
  const midText: [string, number, LlmCall, RegExp, (event: string) => string][] = [
    [
      "Gemini SSE",
      0,
      { path: "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse", body: { contents: [{ role: "user", parts: [{ text: "Bonjour — ça va? 🎉" }] }], generationConfig: { maxOutputTokens: 900 } } },
      /data: \{"error":\{"code":429,"message":"token budget \\"tokens_per_minute\\" exhausted[^"]*","status":"RESOURCE_EXHAUSTED"\}\}\n\n$/,
      (e) => ((JSON.parse(e.replace(/^data: /, "")) as { candidates: { content: { parts: { text: string }[] } }[] }).candidates[0]!.content.parts.map((p) => p.text).join("")),
    ],
    [
      "Ollama NDJSON",
      1,
      { path: "/api/chat", body: { model: "llama3.2", messages: [{ role: "user", content: "Hola — ¿qué tal? 🎉" }], options: { num_predict: 900 } } },
      /\{"error":"token budget \\"tokens_per_minute\\" exhausted[^"]*"\}\n$/,
      (e) => (JSON.parse(e) as { message: { content: string } }).message.content,
    ],
    [
      "Mistral SSE (OpenAI's error shape, then [DONE])",
      2,
      { path: "/v1/chat/completions", body: { model: "mistral-small-latest", messages: [{ role: "user", content: "Salut 🎉" }], stream: true, max_tokens: 900 } },
      /data: \{"error":\{"message":"token budget \\"tokens_per_minute\\" exhausted[^"]*",[^\n]*\}\}\n\ndata: \[DONE\]\n\n$/,
      (e) => (JSON.parse(e.replace(/^data: /, "")) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? "",
    ],
    [
      "OpenAI Responses SSE (event: error)",
      3,
      { path: "/v1/responses", body: { model: "gpt-4o-mini", input: "Say hello 🎉", stream: true, max_output_tokens: 900 } },
      /event: error\ndata: \{"type":"error","code":"rate_limit_exceeded","message":"token budget \\"tokens_per_minute\\" exhausted[^"]*","param":null\}\n\n$/,
      (e) => {
        const data = JSON.parse(e.slice(e.indexOf("data: ") + 6)) as { type: string; delta?: string };
        return data.type === "response.output_text.delta" ? data.delta! : "";
      },
    ],
  ];
  it.each(midText)("%s: a budget crossed mid-text stops at the first event boundary past it, in the provider's error format; what the provider sent after is counted", async (_title, tenantIndex, base, stop, textOf) => {
    const call: LlmCall = { ...base, mock: { "x-mock-reply-tokens": "900" } };
    const { reservation, metadata } = await reserve(call, midTextTenants[tenantIndex]!.apiKey);
    const counted = await Promise.all(reservation.counters.map(counterValue));
    const result = await driver.drive({ metadata, response: await callUpstream(mock.url, call, seed++) });
    const line = await reconciledLine(t.logs, reservation.decisionId);

    expect(result).toMatchObject({ ending: "complete", messageTimeouts: 0 });
    const text = result.body.toString("utf8");
    expect(text, `${JSON.stringify(line)}\n...${text.slice(-400)}`).toMatch(stop);
    // How the provider separates its events: Ollama lines, Gemini's CRLF CRLF, the others' LF LF.
    const sep = ["\r\n\r\n", "\n", "\n\n", "\n\n"][tenantIndex]!;
    const before = text.replace(stop, "");
    expect(before.endsWith(sep)).toBe(true);
    const received = before.split(sep).filter((e) => e !== "").map(textOf).join("");
    expect(Math.abs(reservation.estimatedInputTokens + estimateTextTokens(received) - reservation.counters[0]!.limit)).toBeLessThan(25);
    expect(line).toMatchObject({ outcome: "stopped", stopped_by: "tokens_per_minute", output_tokens: 900, usage_source: "reported" });
    expect(line["actual_tokens"]).toBe((line["input_tokens"] as number) + 900);
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(counted[i]! - c.reserved + (line["actual_tokens"] as number)));
  });

  it("bad input from the upstream (malformed SSE, JSON outside the provider's schema) is counted as malformed and the rest still reconciles exactly", async () => {
    // A hostile upstream, written here rather than by mock-llm: a good text chunk, data that is not
    // JSON, JSON that is not a chat chunk, choices of the wrong type, then the provider's usage.
    const metric = async () => Number(/tollgate_extproc_malformed_events_total\{provider="openai"\} (\d+)/.exec(await t.app.metrics.registry.getSingleMetricAsString("tollgate_extproc_malformed_events_total"))?.[1] ?? 0);
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 500 }) };
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    const malformedBefore = await metric();
    const body =
      'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Bonjour"}}]}\n\n' +
      "data: {this is not json\n\n" +
      'data: {"result":"ok","tokens":"many"}\n\n' +
      'data: {"id":"c","object":"chat.completion.chunk","choices":"nope"}\n\n' +
      'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":17,"total_tokens":48}}\n\n' +
      "data: [DONE]\n\n";
    const result = await driver.drive({ metadata, response: { status: 200, headers: { "content-type": "text/event-stream" }, body: splitAnywhere(Buffer.from(body), seed++, 13) } });
    const line = await reconciledLine(t.logs, reservation.decisionId);
    expect(result).toMatchObject({ ending: "complete", messageTimeouts: 0 });
    expect(result.body.toString("utf8")).toBe(body);
    expect(line).toMatchObject({ outcome: "completed", usage_source: "reported", input_tokens: 31, output_tokens: 17, actual_tokens: 48, malformed_events: 3 });
    expect((await metric()) - malformedBefore).toBe(3);
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(before[i]! - c.reserved + 48));
  });

  it("a plain JSON response that is not the provider's schema: malformed, nothing reported, output counted as 0 and the input as Check estimated it", async () => {
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ max_tokens: 500 }) };
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    const body = '{"usage":{"prompt_tokens":"thirty","completion_tokens":[]},"answer":"not OpenAI"}';
    const result = await driver.drive({ metadata, response: { status: 200, headers: { "content-type": "application/json" }, body: splitAnywhere(Buffer.from(body), seed++, 7) } });
    const line = await reconciledLine(t.logs, reservation.decisionId);
    expect(result.body.toString("utf8")).toBe(body);
    expect(line).toMatchObject({ outcome: "completed", actual_tokens: reservation.estimatedInputTokens });
    expect(line["malformed_events"]).toBeGreaterThanOrEqual(1);
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(before[i]! - c.reserved + reservation.estimatedInputTokens));
  });

  it("a reconcile whose answer is lost after Redis applied it (a timeout) is retried once and applies once", async () => {
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 800 }), mock: { "x-mock-reply-tokens": "60" } };
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    // Fault injected into the real Redis store: the first reconcile runs, then its caller hears a timeout.
    const store = t.app.store;
    const real = store.reconcile.bind(store);
    let attempts = 0;
    store.reconcile = async (adjustments, options) => {
      if (options?.once === undefined) return real(adjustments, options);
      attempts += 1;
      const outcomes = await real(adjustments, options);
      if (attempts === 1) throw new TollgateError("limit_store_unavailable", "Redis limit store: no reply within 50 ms");
      return outcomes;
    };
    try {
      const result = await driver.drive({ metadata, response: await callUpstream(mock.url, call, seed++) });
      const line = await reconciledLine(t.logs, reservation.decisionId);
      const usage = reportedUsage("openai", result.body.toString("utf8"));
      expect(attempts).toBe(2);
      expect(line).not.toHaveProperty("error");
      expect(line).toMatchObject({ outcome: "completed", actual_tokens: usage.input + usage.output });
      const after = await Promise.all(reservation.counters.map(counterValue));
      reservation.counters.forEach((c, i) => expect(after[i]).toBe(before[i]! - c.reserved + usage.input + usage.output));
    } finally {
      store.reconcile = real;
    }
  });

  it("a missing or forged reservation is refused, logged and counted; no counter moves", async () => {
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true } }) };
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    const authz = metadata["envoy.filters.http.ext_authz"]!;
    const handle = authz[RESERVATION_METADATA_KEY] as { payload: string; sig: string };
    // Forged: a refund-worthy reservation with the signature of another one.
    const forgedPayload = Buffer.from(JSON.stringify({ ...reservation, counters: reservation.counters.map((c) => ({ ...c, reserved: 100_000 })) })).toString("base64url");
    const forged = { ...metadata, "envoy.filters.http.ext_authz": { ...authz, [RESERVATION_METADATA_KEY]: { ...handle, payload: forgedPayload } } };
    const refusedBefore = t.logs.events("reservation_refused").length;

    const r1 = await driver.drive({ metadata: forged, response: await callUpstream(mock.url, call, seed++) });
    const r2 = await driver.drive({ metadata: {}, response: await callUpstream(mock.url, call, seed++) });
    for (const r of [r1, r2]) expect(r).toMatchObject({ ending: "complete", modeOverridden: true, messagesSent: 1 });
    expect(r1.body.toString()).toContain("[DONE]");

    const refused = t.logs.events("reservation_refused").slice(refusedBefore);
    expect(refused.map((l) => [l["reason"], l["error"]])).toEqual([
      ["invalid", "reservation: bad signature"],
      ["missing", "reservation: missing"],
    ]);
    const metric = await t.app.metrics.registry.getSingleMetricAsString("tollgate_extproc_reservations_refused_total");
    expect(metric).toMatch(/reason="invalid"} [1-9]/);
    expect(metric).toMatch(/reason="missing"} [1-9]/);
    expect(await Promise.all(reservation.counters.map(counterValue))).toEqual(before);
  });

  // Once flaky under load: the driver held all the body that arrived before tollgate answered the
  // headers and sent it as one message (8.9 MB seen), over tollgate's 4 MiB gRPC message bound, so
  // the stream was refused and the rest passed uncounted ("disconnected"). Envoy read-disables the
  // upstream instead (watermarks), which the driver now does too.
  it("a 10 MB streamed response reconciles exactly", async () => {
    // About 5 s alone; a loaded machine can make it several times that.
    await startEarlyInMinute(40_000);
    const call: LlmCall = { path: "/v1/chat/completions", body: chat({ stream: true, stream_options: { include_usage: true }, max_tokens: 100_000 }), mock: { "x-mock-reply-tokens": "70000" } };
    const { reservation, metadata } = await reserve(call);
    const before = await Promise.all(reservation.counters.map(counterValue));
    // Envoy's data frames are up to 16 KiB; this test's process also plays Envoy and the client.
    const response = await callUpstream(mock.url, call, seed++, 16_384);
    const result = await driver.drive({ metadata, response });
    const line = await reconciledLine(t.logs, reservation.decisionId, 60_000);
    expect(result.messageTimeouts, "the driver's message timeout fired: it passed the rest unchanged and tollgate saw a disconnect").toBe(0);
    expect(result.gaveUp, "the driver stopped processing early (stream closed or refused by tollgate)").toBeUndefined();
    // Flow control kept every message to about one upstream read (16 KiB here), far under the 4 MiB gRPC bound.
    expect(result.largestMessageBytes).toBeLessThanOrEqual(16_384);
    expect(result.body.length).toBeGreaterThan(10 * 1024 * 1024);
    const usage = reportedUsage("openai", result.body.toString("utf8"));
    expect(line).toMatchObject({ outcome: "completed", output_tokens: 70_000, actual_tokens: usage.input + 70_000 });
    const after = await Promise.all(reservation.counters.map(counterValue));
    reservation.counters.forEach((c, i) => expect(after[i]).toBe(before[i]! - c.reserved + usage.input + 70_000));
  }, 120_000);
});
