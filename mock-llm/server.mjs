// A stand-in LLM provider for local stacks and tests. Node built-ins only.
//
//   POST /v1/chat/completions   OpenAI-compatible, JSON or SSE (stream: true)
//   POST /v1/messages           Anthropic-compatible, JSON or SSE (stream: true)
//   GET  /debug/last-request    the last /v1/* request as received (headers, body)
//   GET  /healthz               {"status":"ok"}
//
// Replies are canned and deterministic. A request header x-mock-status: <400-599> makes the
// endpoint answer with that status and a provider-style error body.
//
// Env: PORT (8080; 0 picks a free port), HOST (0.0.0.0), MOCK_MAX_BODY_BYTES (10 MiB),
// MOCK_CHUNK_DELAY_MS (20, pause between streamed chunks).
import { createServer } from "node:http";

const PORT = intFromEnv("PORT", 8080);
const HOST = process.env.HOST || "0.0.0.0";
const MAX_BODY_BYTES = intFromEnv("MOCK_MAX_BODY_BYTES", 10 * 1024 * 1024);
const CHUNK_DELAY_MS = intFromEnv("MOCK_CHUNK_DELAY_MS", 20);
const REPLY = "Hello from mock-llm. This canned reply stands in for a real model.";
// Streamed in word-sized pieces; each piece counts as one completion token.
const REPLY_PIECES = REPLY.match(/\s*\S+/g);

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

const dialects = {
  openai: {
    error: (status, message) => ({
      error: { message, type: status >= 500 ? "server_error" : "invalid_request_error", param: null, code: null },
    }),
    validate(body) {
      if (typeof body.model !== "string" || body.model === "") return "you must provide a model parameter";
      if (!Array.isArray(body.messages) || body.messages.length === 0) return "'messages' must be a non-empty array";
      const max = body.max_completion_tokens ?? body.max_tokens;
      if (max !== undefined && max !== null && !(Number.isInteger(max) && max > 0)) return "'max_tokens' must be a positive integer";
      return undefined;
    },
    respond: openaiRespond,
  },
  anthropic: {
    error: (status, message) => ({
      type: "error",
      error: { type: status >= 500 ? "api_error" : status === 429 ? "rate_limit_error" : "invalid_request_error", message },
    }),
    validate(body) {
      if (typeof body.model !== "string" || body.model === "") return "model: Field required";
      if (!(Number.isInteger(body.max_tokens) && body.max_tokens > 0)) return "max_tokens: Field required (a positive integer)";
      if (!Array.isArray(body.messages) || body.messages.length === 0) return "messages: must be a non-empty array";
      return undefined;
    },
    respond: anthropicRespond,
  },
};

const routes = { "/v1/chat/completions": "openai", "/v1/messages": "anthropic" };

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Counts text in OpenAI/Anthropic message content (a string or a list of {type:"text", text}). */
function textLength(content) {
  if (typeof content === "string") return content.length;
  if (!Array.isArray(content)) return 0;
  return content.reduce((n, part) => n + (part && typeof part.text === "string" ? part.text.length : 0), 0);
}

function usageFor(body) {
  const chars = body.messages.reduce((n, m) => n + textLength(m && m.content), 0) + textLength(body.system);
  const limit = body.max_completion_tokens ?? body.max_tokens ?? REPLY_PIECES.length;
  const pieces = REPLY_PIECES.slice(0, Math.min(limit, REPLY_PIECES.length));
  return { promptTokens: Math.max(1, Math.ceil(chars / 4)), pieces, truncated: pieces.length < REPLY_PIECES.length };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function startSse(res) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
}

async function openaiRespond(body, res) {
  const { promptTokens, pieces, truncated } = usageFor(body);
  const id = `chatcmpl-mock-${++counter}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: promptTokens, completion_tokens: pieces.length, total_tokens: promptTokens + pieces.length };
  const finish = truncated ? "length" : "stop";
  if (body.stream !== true) {
    sendJson(res, 200, {
      id, object: "chat.completion", created, model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: pieces.join(""), refusal: null }, logprobs: null, finish_reason: finish }],
      usage,
    });
    return;
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices, extra) => ({
    id, object: "chat.completion.chunk", created, model: body.model, choices, ...(includeUsage ? { usage: null } : {}), ...extra,
  });
  const frames = [
    chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]),
    ...pieces.map((p) => chunk([{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null }])),
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]),
    ...(includeUsage ? [chunk([], { usage })] : []),
  ];
  startSse(res);
  for (const frame of frames) {
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(frame)}\n\n`);
    if (CHUNK_DELAY_MS > 0) await sleep(CHUNK_DELAY_MS);
  }
  res.end("data: [DONE]\n\n");
}

async function anthropicRespond(body, res) {
  const { promptTokens, pieces, truncated } = usageFor(body);
  const id = `msg_mock_${++counter}`;
  const stopReason = truncated ? "max_tokens" : "end_turn";
  if (body.stream !== true) {
    sendJson(res, 200, {
      id, type: "message", role: "assistant", model: body.model,
      content: [{ type: "text", text: pieces.join("") }],
      stop_reason: stopReason, stop_sequence: null,
      usage: { input_tokens: promptTokens, output_tokens: pieces.length },
    });
    return;
  }
  const events = [
    ["message_start", {
      type: "message_start",
      message: {
        id, type: "message", role: "assistant", model: body.model, content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: promptTokens, output_tokens: 1 },
      },
    }],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
    ["ping", { type: "ping" }],
    ...pieces.map((p) => ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: p } }]),
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
    ["message_delta", { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: pieces.length } }],
    ["message_stop", { type: "message_stop" }],
  ];
  startSse(res);
  for (const [name, data] of events) {
    if (res.destroyed) return;
    res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    if (CHUNK_DELAY_MS > 0) await sleep(CHUNK_DELAY_MS);
  }
  res.end();
}

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

async function handleApi(req, res, dialect) {
  const d = dialects[dialect];
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
  const forced = Number(req.headers["x-mock-status"]);
  if (Number.isInteger(forced) && forced >= 400 && forced <= 599) {
    return sendJson(res, forced, d.error(forced, `mock-llm was asked to fail with ${forced}`));
  }
  if (body === undefined) return sendJson(res, 400, d.error(400, "could not parse the JSON body of your request"));
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return sendJson(res, 400, d.error(400, "the request body must be a JSON object"));
  }
  const problem = d.validate(body);
  if (problem) return sendJson(res, 400, d.error(400, problem));
  await d.respond(body, res);
}

async function handle(req, res) {
  const path = new URL(req.url, "http://mock").pathname;
  if (path === "/healthz" && req.method === "GET") return sendJson(res, 200, { status: "ok" });
  if (path === "/debug/last-request" && req.method === "GET") {
    return lastRequest ? sendJson(res, 200, lastRequest) : sendJson(res, 404, { error: { message: "no request received yet" } });
  }
  const dialect = routes[path];
  if (!dialect) return sendJson(res, 404, dialects.openai.error(404, `Unknown request URL: ${req.method} ${path}`));
  if (req.method !== "POST") {
    res.setHeader("allow", "POST");
    return sendJson(res, 405, dialects[dialect].error(405, `method ${req.method} not allowed on ${path}`));
  }
  return handleApi(req, res, dialect);
}

const server = createServer((req, res) => {
  const started = Date.now();
  res.on("close", () => {
    const line = { ts: new Date().toISOString(), method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - started };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  });
  handle(req, res).catch((err) => {
    if (!res.headersSent) sendJson(res, 500, dialects.openai.error(500, `mock-llm internal error: ${err.message}`));
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
