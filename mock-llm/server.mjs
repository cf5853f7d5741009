// A stand-in LLM provider for local stacks and tests. Node built-ins only.
//
// Every provider tollgate knows, JSON or streamed, with usage exactly where and how the provider
// reports it (docs/usage-extraction.md lists the formats):
//
//   POST /v1/chat/completions                      OpenAI chat; SSE when stream: true (usage chunk with
//                                                  stream_options.include_usage). Mistral's format when the
//                                                  model is a Mistral model (mistral-*, codestral-*, …) or
//                                                  x-mock-provider: mistral
//   POST /v1/responses                             OpenAI Responses; SSE events when stream: true
//   POST /openai/deployments/{name}/chat/completions  Azure OpenAI (prompt_filter_results, content filters)
//   POST /v1/messages                              Anthropic; SSE message_start … message_delta when stream: true
//   POST /v1beta/models/{model}:generateContent    Gemini (also /v1/ and /v1alpha/)
//   POST /v1beta/models/{model}:streamGenerateContent  SSE with ?alt=sse, else one JSON array of chunks
//   POST /api/chat, /api/generate                  Ollama; NDJSON unless stream: false
//   GET  /debug/last-request                       the last API request as received (headers, body)
//   GET  /healthz                                  {"status":"ok"}
//
// Replies are canned and deterministic: the words of REPLY, one word per output token, cut at the
// request's output cap; prompt tokens are ceil(prompt characters / 4). Request headers steer a reply:
//   x-mock-status: <400-599>          answer with that status and the provider's error body
//   x-mock-reply-tokens: <1-100000>   reply with that many words instead of REPLY's 12
//   x-mock-cache-read: <n>            prompt-cache reads (added to the prompt; reported the provider's way)
//   x-mock-cache-write: <n>           prompt-cache writes (Anthropic cache_creation_input_tokens)
//   x-mock-encoding: gzip|deflate|br  compress the body (streams are flushed chunk by chunk)
//   x-mock-disconnect-after: <n>      streams: reset the connection after n events, no proper end
//   x-mock-chunk-delay-ms: <ms>       streams: pause between events (default MOCK_CHUNK_DELAY_MS)
//   x-mock-provider: openai|mistral   which format /v1/chat/completions speaks
//
// Env: PORT (8080; 0 picks a free port), HOST (0.0.0.0), MOCK_MAX_BODY_BYTES (10 MiB),
// MOCK_CHUNK_DELAY_MS (20, pause between streamed chunks).
import { createServer } from "node:http";
import { constants as zlibConstants, createBrotliCompress, createDeflate, createGzip, brotliCompressSync, deflateSync, gzipSync } from "node:zlib";

const PORT = intFromEnv("PORT", 8080);
const HOST = process.env.HOST || "0.0.0.0";
const MAX_BODY_BYTES = intFromEnv("MOCK_MAX_BODY_BYTES", 10 * 1024 * 1024);
const CHUNK_DELAY_MS = intFromEnv("MOCK_CHUNK_DELAY_MS", 20);
const REPLY = "Hello from mock-llm. This canned reply stands in for a real model.";
const WORDS = REPLY.split(" ");
const MAX_REPLY_TOKENS = 100_000;
const MISTRAL_MODEL = /^(mistral|open-mistral|open-mixtral|codestral|magistral|ministral|pixtral|devstral|voxtral)/i;

let lastRequest = null;
let counter = 0;

function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`mock-llm: ${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

class BadRequest extends Error {}

/** A non-negative integer header within [min, max], or the fallback when absent. */
function intHeader(req, name, fallback, min, max) {
  const raw = req.headers[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new BadRequest(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

const ENCODERS = {
  gzip: { stream: () => createGzip(), flush: zlibConstants.Z_SYNC_FLUSH, once: gzipSync },
  deflate: { stream: () => createDeflate(), flush: zlibConstants.Z_SYNC_FLUSH, once: deflateSync },
  br: { stream: () => createBrotliCompress(), flush: zlibConstants.BROTLI_OPERATION_FLUSH, once: brotliCompressSync },
};

/** What the request asks of the reply (x-mock-* headers), validated. */
function replyOptions(req) {
  const encoding = req.headers["x-mock-encoding"];
  if (encoding !== undefined && !ENCODERS[encoding]) throw new BadRequest(`x-mock-encoding must be gzip, deflate or br, got ${JSON.stringify(encoding)}`);
  return {
    replyTokens: intHeader(req, "x-mock-reply-tokens", WORDS.length, 1, MAX_REPLY_TOKENS),
    cacheRead: intHeader(req, "x-mock-cache-read", 0, 0, 10_000_000),
    cacheWrite: intHeader(req, "x-mock-cache-write", 0, 0, 10_000_000),
    disconnectAfter: intHeader(req, "x-mock-disconnect-after", Infinity, 0, 1_000_000),
    delayMs: intHeader(req, "x-mock-chunk-delay-ms", CHUNK_DELAY_MS, 0, 60_000),
    encoding,
  };
}

// ---------------------------------------------------------------------------------------------
// Writing replies: JSON at once, or a stream of frames (optionally compressed, flushed per frame)

function sendJson(res, status, value, encoding) {
  let body = Buffer.from(JSON.stringify(value));
  const headers = { "content-type": "application/json" };
  if (encoding) {
    body = ENCODERS[encoding].once(body);
    headers["content-encoding"] = encoding;
  }
  headers["content-length"] = body.length;
  res.writeHead(status, headers);
  res.end(body);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes frames one by one with the configured pause; honours x-mock-disconnect-after. */
async function stream(res, contentType, frames, opts, last = "") {
  const headers = { "content-type": contentType, "cache-control": "no-cache" };
  if (opts.encoding) headers["content-encoding"] = opts.encoding;
  res.writeHead(200, headers);
  let out = res;
  let flush = () => undefined;
  if (opts.encoding) {
    const enc = ENCODERS[opts.encoding];
    out = enc.stream();
    out.pipe(res);
    flush = () => new Promise((resolve) => out.flush(enc.flush, resolve));
  }
  // A reset after what was written has reached the socket, as when an upstream dies mid-stream.
  const disconnect = async () => {
    await new Promise((resolve) => res.write("", resolve));
    res.destroy();
  };
  let sent = 0;
  for (const frame of frames) {
    if (res.destroyed) return;
    if (sent === opts.disconnectAfter) return disconnect();
    out.write(frame);
    await flush();
    sent += 1;
    if (opts.delayMs > 0) await sleep(opts.delayMs);
  }
  if (sent === opts.disconnectAfter && last !== "") return disconnect();
  out.end(last);
}

const sse = (value) => `data: ${typeof value === "string" ? value : JSON.stringify(value)}\n\n`;
const namedSse = (name, value) => `event: ${name}\ndata: ${JSON.stringify(value)}\n\n`;

// ---------------------------------------------------------------------------------------------
// Prompt size and reply pieces

/** Characters of text in message content: a string, or a list of parts with `text`. */
function textLength(content) {
  if (typeof content === "string") return content.length;
  if (!Array.isArray(content)) return 0;
  return content.reduce((n, part) => n + (part && typeof part.text === "string" ? part.text.length : 0), 0);
}

const tokensOf = (chars) => Math.max(1, Math.ceil(chars / 4));

/** The reply's pieces (one word each, each counts as one output token), cut at `limit`. */
function replyPieces(opts, limit) {
  const wanted = opts.replyTokens;
  const cap = Number.isInteger(limit) && limit > 0 ? limit : wanted;
  const n = Math.min(cap, wanted);
  const pieces = Array.from({ length: n }, (_, i) => (i === 0 ? "" : " ") + WORDS[i % WORDS.length]);
  return { pieces, truncated: n < wanted };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// OpenAI chat completions (also Azure OpenAI and, in its own flavour, Mistral)

const OPENAI_ERROR = (status, message) => ({
  error: { message, type: status >= 500 ? "server_error" : status === 429 ? "requests" : "invalid_request_error", param: null, code: status === 429 ? "rate_limit_exceeded" : null },
});

function validateChat(body) {
  if (typeof body.model !== "string" || body.model === "") return "you must provide a model parameter";
  if (!Array.isArray(body.messages) || body.messages.length === 0) return "'messages' must be a non-empty array";
  const max = body.max_completion_tokens ?? body.max_tokens;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && max > 0)) return "'max_tokens' must be a positive integer";
  return undefined;
}

function chatPrompt(body) {
  return tokensOf(body.messages.reduce((n, m) => n + textLength(m && m.content), 0));
}

function openAiUsage(prompt, completion, opts) {
  return {
    prompt_tokens: prompt + opts.cacheRead,
    completion_tokens: completion,
    total_tokens: prompt + opts.cacheRead + completion,
    prompt_tokens_details: { cached_tokens: opts.cacheRead, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

const AZURE_FILTER = { hate: { filtered: false, severity: "safe" }, self_harm: { filtered: false, severity: "safe" }, sexual: { filtered: false, severity: "safe" }, violence: { filtered: false, severity: "safe" } };

async function openAiChat(body, res, opts, azure) {
  const { pieces, truncated } = replyPieces(opts, body.max_completion_tokens ?? body.max_tokens);
  const prompt = chatPrompt(body);
  const id = `chatcmpl-mock-${++counter}`;
  const created = nowSeconds();
  const usage = openAiUsage(prompt, pieces.length, opts);
  const finish = truncated ? "length" : "stop";
  const filter = azure ? { content_filter_results: AZURE_FILTER } : {};
  if (body.stream !== true) {
    return sendJson(res, 200, {
      id, object: "chat.completion", created, model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: pieces.join(""), refusal: null }, logprobs: null, finish_reason: finish, ...filter }],
      usage,
      ...(azure ? { prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }] } : {}),
    }, opts.encoding);
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices, extra) => ({
    id, object: "chat.completion.chunk", created, model: body.model, choices, ...(includeUsage ? { usage: null } : {}), ...extra,
  });
  const frames = [
    // Azure opens with the prompt's content-filter verdict: no id, no model, no choices.
    ...(azure ? [{ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }] }] : []),
    chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]),
    ...pieces.map((p) => chunk([{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null, ...filter }])),
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finish, ...filter }]),
    ...(includeUsage ? [chunk([], { usage })] : []),
  ];
  await stream(res, "text/event-stream", frames.map(sse), opts, sse("[DONE]"));
}

const AZURE_ERROR = (status, message) => ({ error: { code: String(status), message } });

const MISTRAL_ERROR = (status, message) => ({
  object: "error", message, type: status === 429 ? "rate_limited" : status >= 500 ? "internal_server_error" : "invalid_request_error", param: null, code: null,
});

/** Mistral: usage rides on the chunk with finish_reason, always; no `usage: null` on the others. */
async function mistralChat(body, res, opts) {
  const { pieces, truncated } = replyPieces(opts, body.max_tokens);
  const prompt = chatPrompt(body) + opts.cacheRead;
  const id = `${(++counter).toString(16).padStart(32, "0")}`;
  const created = nowSeconds();
  const usage = { prompt_tokens: prompt, total_tokens: prompt + pieces.length, completion_tokens: pieces.length };
  const finish = truncated ? "length" : "stop";
  if (body.stream !== true) {
    return sendJson(res, 200, {
      id, object: "chat.completion", model: body.model, usage, created,
      choices: [{ index: 0, message: { content: pieces.join(""), tool_calls: null, prefix: false, role: "assistant" }, finish_reason: finish }],
    }, opts.encoding);
  }
  const base = { id, object: "chat.completion.chunk", created, model: body.model };
  const frames = [
    { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
    ...pieces.map((p, i) =>
      i < pieces.length - 1
        ? { ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: null }] }
        : { ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: finish }], usage },
    ),
  ];
  await stream(res, "text/event-stream", frames.map(sse), opts, sse("[DONE]"));
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses

function validateResponses(body) {
  if (typeof body.model !== "string" || body.model === "") return "Missing required parameter: 'model'.";
  if (typeof body.input !== "string" && !Array.isArray(body.input)) return "Missing required parameter: 'input'.";
  const max = body.max_output_tokens;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && max > 0)) return "'max_output_tokens' must be a positive integer";
  return undefined;
}

function responsesPrompt(body) {
  const input = typeof body.input === "string" ? body.input.length : body.input.reduce((n, item) => n + textLength(item && item.content), 0);
  return tokensOf(input + (typeof body.instructions === "string" ? body.instructions.length : 0));
}

async function openAiResponses(body, res, opts) {
  const { pieces, truncated } = replyPieces(opts, body.max_output_tokens);
  const prompt = responsesPrompt(body) + opts.cacheRead;
  const n = ++counter;
  const text = pieces.join("");
  const usage = { input_tokens: prompt, input_tokens_details: { cached_tokens: opts.cacheRead }, output_tokens: pieces.length, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: prompt + pieces.length };
  const status = truncated ? "incomplete" : "completed";
  const base = {
    id: `resp_mock_${n}`, object: "response", created_at: nowSeconds(), status: "in_progress", error: null, incomplete_details: null,
    instructions: body.instructions ?? null, max_output_tokens: body.max_output_tokens ?? null, model: body.model, output: [], usage: null,
  };
  const itemId = `msg_mock_${n}`;
  const message = { id: itemId, type: "message", status: truncated ? "incomplete" : "completed", role: "assistant", content: [{ type: "output_text", annotations: [], text }] };
  const final = { ...base, status, incomplete_details: truncated ? { reason: "max_output_tokens" } : null, output: [message], usage };
  if (body.stream !== true) return sendJson(res, 200, final, opts.encoding);
  let seq = 0;
  const ev = (type, fields) => namedSse(type, { type, sequence_number: seq++, ...fields });
  const frames = [
    ev("response.created", { response: base }),
    ev("response.in_progress", { response: base }),
    ev("response.output_item.added", { output_index: 0, item: { ...message, status: "in_progress", content: [] } }),
    ev("response.content_part.added", { item_id: itemId, output_index: 0, content_index: 0, part: { type: "output_text", annotations: [], text: "" } }),
    ...pieces.map((p) => ev("response.output_text.delta", { item_id: itemId, output_index: 0, content_index: 0, delta: p, logprobs: [] })),
    ev("response.output_text.done", { item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] }),
    ev("response.content_part.done", { item_id: itemId, output_index: 0, content_index: 0, part: message.content[0] }),
    ev("response.output_item.done", { output_index: 0, item: message }),
    ev(truncated ? "response.incomplete" : "response.completed", { response: final }),
  ];
  await stream(res, "text/event-stream; charset=utf-8", frames, opts);
}

// ---------------------------------------------------------------------------------------------
// Anthropic messages

const ANTHROPIC_ERROR = (status, message) => ({
  type: "error",
  error: { type: status >= 500 ? "api_error" : status === 429 ? "rate_limit_error" : "invalid_request_error", message },
});

function validateAnthropic(body) {
  if (typeof body.model !== "string" || body.model === "") return "model: Field required";
  if (!(Number.isInteger(body.max_tokens) && body.max_tokens > 0)) return "max_tokens: Field required (a positive integer)";
  if (!Array.isArray(body.messages) || body.messages.length === 0) return "messages: must be a non-empty array";
  return undefined;
}

async function anthropicMessages(body, res, opts) {
  const { pieces, truncated } = replyPieces(opts, body.max_tokens);
  const prompt = tokensOf(body.messages.reduce((n, m) => n + textLength(m && m.content), 0) + textLength(body.system));
  const id = `msg_mock_${++counter}`;
  const stopReason = truncated ? "max_tokens" : "end_turn";
  // Anthropic counts cache reads and writes apart from input_tokens.
  const cache = { cache_creation_input_tokens: opts.cacheWrite, cache_read_input_tokens: opts.cacheRead };
  if (body.stream !== true) {
    return sendJson(res, 200, {
      id, type: "message", role: "assistant", model: body.model,
      content: [{ type: "text", text: pieces.join("") }],
      stop_reason: stopReason, stop_sequence: null,
      usage: { input_tokens: prompt, ...cache, output_tokens: pieces.length },
    }, opts.encoding);
  }
  const events = [
    ["message_start", {
      type: "message_start",
      message: {
        id, type: "message", role: "assistant", model: body.model, content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: prompt, ...cache, output_tokens: 1 },
      },
    }],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
    ["ping", { type: "ping" }],
    ...pieces.map((p) => ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: p } }]),
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
    ["message_delta", { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: pieces.length } }],
    ["message_stop", { type: "message_stop" }],
  ];
  await stream(res, "text/event-stream", events.map(([name, data]) => namedSse(name, data)), opts);
}

// ---------------------------------------------------------------------------------------------
// Gemini generateContent / streamGenerateContent

const GEMINI_STATUS = { 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED" };
const GEMINI_ERROR = (status, message) => ({ error: { code: status, message, status: GEMINI_STATUS[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION") } });

function validateGemini(body) {
  if (!Array.isArray(body.contents) || body.contents.length === 0) return "* GenerateContentRequest.contents: contents is not specified";
  const max = body.generationConfig?.maxOutputTokens;
  if (max !== undefined && !(Number.isInteger(max) && max > 0)) return "* GenerateContentRequest.generation_config.max_output_tokens: must be positive";
  return undefined;
}

async function gemini(body, res, opts, params) {
  const { pieces, truncated } = replyPieces(opts, body.generationConfig?.maxOutputTokens);
  const chars = body.contents.reduce((n, c) => n + textLength(c && c.parts), 0) + textLength(body.systemInstruction?.parts);
  const prompt = tokensOf(chars) + opts.cacheRead;
  const modelVersion = params.model;
  const responseId = `mock${++counter}`;
  const details = [{ modality: "TEXT", tokenCount: prompt }];
  const finalUsage = {
    promptTokenCount: prompt, candidatesTokenCount: pieces.length, totalTokenCount: prompt + pieces.length,
    ...(opts.cacheRead > 0 ? { cachedContentTokenCount: opts.cacheRead } : {}), promptTokensDetails: details,
  };
  const finishReason = truncated ? "MAX_TOKENS" : "STOP";
  if (!params.stream) {
    return sendJson(res, 200, {
      candidates: [{ content: { parts: [{ text: pieces.join("") }], role: "model" }, finishReason, index: 0 }],
      usageMetadata: finalUsage, modelVersion, responseId,
    }, opts.encoding);
  }
  // Running totals on every chunk; the last one, with finishReason, carries the full count.
  const chunks = pieces.map((p, i) => ({
    candidates: [{ content: { parts: [{ text: p }], role: "model" }, index: 0, ...(i === pieces.length - 1 ? { finishReason } : {}) }],
    usageMetadata: i === pieces.length - 1 ? finalUsage : { promptTokenCount: prompt, totalTokenCount: prompt, promptTokensDetails: details },
    modelVersion, responseId,
  }));
  if (params.sse) {
    await stream(res, "text/event-stream", chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`), opts);
  } else {
    // Without alt=sse the chunks are elements of one JSON array, written as they come.
    await stream(res, "application/json; charset=UTF-8", chunks.map((c, i) => `${i === 0 ? "[" : "\r\n,"}${JSON.stringify(c)}`), opts, "]");
  }
}

// ---------------------------------------------------------------------------------------------
// Ollama /api/chat and /api/generate (NDJSON)

const OLLAMA_ERROR = (_status, message) => ({ error: message });

function validateOllama(body, kind) {
  if (typeof body.model !== "string" || body.model === "") return "model is required";
  if (kind === "chat" && !Array.isArray(body.messages)) return "messages must be an array";
  if (kind === "generate" && body.prompt !== undefined && typeof body.prompt !== "string") return "prompt must be a string";
  return undefined;
}

async function ollama(body, res, opts, kind) {
  const { pieces, truncated } = replyPieces(opts, body.options?.num_predict);
  const chars = kind === "chat" ? body.messages.reduce((n, m) => n + textLength(m && m.content), 0) : (body.prompt ?? "").length + textLength(body.system);
  const prompt = tokensOf(chars) + opts.cacheRead;
  const createdAt = () => new Date().toISOString();
  const stats = {
    total_duration: 4353619900, load_duration: 63915300, prompt_eval_count: prompt, prompt_eval_duration: 246847000,
    eval_count: pieces.length, eval_duration: 4032296000,
  };
  const doneReason = truncated ? "length" : "stop";
  const final = kind === "chat"
    ? { model: body.model, created_at: createdAt(), message: { role: "assistant", content: "" }, done_reason: doneReason, done: true, ...stats }
    : { model: body.model, created_at: createdAt(), response: "", done: true, done_reason: doneReason, context: [1, 2, 3], ...stats };
  if (body.stream === false) {
    const whole = kind === "chat" ? { ...final, message: { role: "assistant", content: pieces.join("") } } : { ...final, response: pieces.join("") };
    return sendJson(res, 200, whole, opts.encoding);
  }
  const lines = [
    ...pieces.map((p) => (kind === "chat"
      ? { model: body.model, created_at: createdAt(), message: { role: "assistant", content: p }, done: false }
      : { model: body.model, created_at: createdAt(), response: p, done: false })),
    final,
  ];
  await stream(res, "application/x-ndjson", lines.map((l) => `${JSON.stringify(l)}\n`), opts);
}

// ---------------------------------------------------------------------------------------------
// Routing

const GEMINI_PATH = /^\/(v1beta|v1|v1alpha)\/(models|tunedModels)\/([^/:]+):(generateContent|streamGenerateContent)$/;
const AZURE_PATH = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/;

/** Which provider dialect answers `path`, with what it needs from the path and query. */
function route(url, req) {
  const path = url.pathname;
  if (path === "/v1/chat/completions") {
    const forced = req.headers["x-mock-provider"];
    return { dialect: forced === "mistral" ? "mistral" : "openai", detect: forced === undefined };
  }
  if (path === "/v1/responses") return { dialect: "responses" };
  if (path === "/v1/messages") return { dialect: "anthropic" };
  if (path === "/api/chat") return { dialect: "ollama", params: "chat" };
  if (path === "/api/generate") return { dialect: "ollama", params: "generate" };
  const azure = AZURE_PATH.exec(path);
  if (azure) return { dialect: "azure_openai", params: { deployment: decodeURIComponent(azure[1]) } };
  const g = GEMINI_PATH.exec(path);
  if (g) return { dialect: "gemini", params: { model: decodeURIComponent(g[3]), stream: g[4] === "streamGenerateContent", sse: url.searchParams.get("alt") === "sse" } };
  return undefined;
}

const dialects = {
  openai: { error: OPENAI_ERROR, validate: validateChat, respond: (b, res, o) => openAiChat(b, res, o, false) },
  mistral: { error: MISTRAL_ERROR, validate: validateChat, respond: mistralChat },
  responses: { error: OPENAI_ERROR, validate: validateResponses, respond: openAiResponses },
  azure_openai: {
    error: AZURE_ERROR,
    validate: (body) => (Array.isArray(body.messages) && body.messages.length > 0 ? undefined : "'messages' must be a non-empty array"),
    respond: (b, res, o, p) => openAiChat({ ...b, model: b.model ?? p.deployment }, res, o, true),
  },
  anthropic: { error: ANTHROPIC_ERROR, validate: validateAnthropic, respond: anthropicMessages },
  gemini: { error: GEMINI_ERROR, validate: validateGemini, respond: gemini },
  ollama: { error: OLLAMA_ERROR, validate: validateOllama, respond: ollama },
};

/** Reads the body up to MAX_BODY_BYTES; resolves undefined when it is larger. */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return resolve(undefined);
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data");
        req.pause();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function handleApi(req, res, target) {
  let d = dialects[target.dialect];
  const text = await readBody(req);
  if (text === undefined) {
    res.setHeader("connection", "close");
    return sendJson(res, 413, d.error(413, `request body exceeds ${MAX_BODY_BYTES} bytes`));
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  lastRequest = {
    method: req.method, path: req.url, headers: req.headers, body: text, json: body ?? null,
    received_at: new Date().toISOString(),
  };
  if (target.detect && typeof body?.model === "string" && MISTRAL_MODEL.test(body.model)) d = dialects.mistral;
  const forced = Number(req.headers["x-mock-status"]);
  if (Number.isInteger(forced) && forced >= 400 && forced <= 599) {
    return sendJson(res, forced, d.error(forced, `mock-llm was asked to fail with ${forced}`));
  }
  let opts;
  try {
    opts = replyOptions(req);
  } catch (err) {
    if (err instanceof BadRequest) return sendJson(res, 400, d.error(400, err.message));
    throw err;
  }
  if (body === undefined) return sendJson(res, 400, d.error(400, "could not parse the JSON body of your request"));
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return sendJson(res, 400, d.error(400, "the request body must be a JSON object"));
  }
  const problem = d.validate(body, target.params);
  if (problem) return sendJson(res, 400, d.error(400, problem));
  await d.respond(body, res, opts, target.params);
}

async function handle(req, res) {
  const url = new URL(req.url, "http://mock");
  const path = url.pathname;
  if (path === "/healthz" && req.method === "GET") return sendJson(res, 200, { status: "ok" });
  if (path === "/debug/last-request" && req.method === "GET") {
    return lastRequest ? sendJson(res, 200, lastRequest) : sendJson(res, 404, { error: { message: "no request received yet" } });
  }
  const target = route(url, req);
  if (!target) return sendJson(res, 404, OPENAI_ERROR(404, `Unknown request URL: ${req.method} ${path}`));
  if (req.method !== "POST") {
    res.setHeader("allow", "POST");
    return sendJson(res, 405, dialects[target.dialect].error(405, `method ${req.method} not allowed on ${path}`));
  }
  return handleApi(req, res, target);
}

const server = createServer((req, res) => {
  const started = Date.now();
  res.on("close", () => {
    const line = { ts: new Date().toISOString(), method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - started };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  });
  handle(req, res).catch((err) => {
    if (!res.headersSent) sendJson(res, 500, OPENAI_ERROR(500, `mock-llm internal error: ${err.message}`));
    else res.destroy();
  });
});
server.on("clientError", (_err, socket) => {
  if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const host = HOST === "0.0.0.0" ? "127.0.0.1" : HOST;
  process.stdout.write(`${JSON.stringify({ msg: "mock-llm listening", url: `http://${host}:${port}` })}\n`);
});

// Node as PID 1 ignores SIGTERM unless handled; stop promptly so `docker compose down` is quick.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
