import { describe, expect, it } from "vitest";
import { buildLlmInput, extractPromptTexts, PROVIDER_IDS, type LlmErrorCode, type LlmInput } from "../../src/llm/index.js";

function llm(path: string, body: unknown, options: { truncated?: boolean; host?: string } = {}): LlmInput {
  const out = buildLlmInput({ method: "POST", path, headers: options.host ? { host: options.host } : {}, body, truncated: options.truncated ?? false });
  if (!out) throw new Error(`not recognised: ${path}`);
  return out;
}

const PATHS: [string, string, string | undefined][] = [
  ["openai chat", "/v1/chat/completions", undefined],
  ["openai responses", "/v1/responses", undefined],
  ["azure chat", "/openai/deployments/d/chat/completions", undefined],
  ["anthropic", "/v1/messages", undefined],
  ["mistral", "/v1/chat/completions", "api.mistral.ai"],
  ["gemini", "/v1beta/models/g:generateContent", undefined],
  ["ollama", "/api/chat", undefined],
];

describe("bodies that cannot be read", () => {
  const bodies: [string, unknown, boolean, LlmErrorCode][] = [
    ["no body", undefined, false, "body_missing"],
    ["null body", null, false, "body_missing"],
    ["raw text that did not parse", "{\"model\": \"gpt", false, "body_not_json"],
    ["a JSON array", [1, 2], false, "schema_mismatch"],
    ["a JSON number", 42, false, "schema_mismatch"],
    ["a JSON boolean", true, false, "schema_mismatch"],
    ["truncated and unparsed", null, true, "body_truncated"],
    ["truncated but parsed", { model: "m", messages: [] }, true, "body_truncated"],
  ];
  for (const [provider, path, host] of PATHS) {
    it.each(bodies)(`${provider}: %s → %s`, (_title, body, truncated, code) => {
      const out = llm(path, body, { truncated, host });
      expect(out.error?.code).toBe(code);
      expect(out.error?.message).toMatch(/\S/);
      expect(out.truncated).toBe(truncated);
    });
  }

  it("a missing body keeps what the path tells (model, stream) and zeroes the rest", () => {
    expect(llm("/v1beta/models/gemini-pro:streamGenerateContent", null)).toEqual({
      provider: "gemini", operation: "chat", model: "gemini-pro", stream: true, max_output_tokens: null, estimated_input_tokens: 0,
      message_count: 0, has_tools: false, has_images: false, truncated: false,
      error: { code: "body_missing", message: "request has no JSON body" },
    });
  });
});

describe("schema mismatches name the offending field", () => {
  const cases: [string, string, unknown, string | undefined, RegExp][] = [
    ["openai without messages", "/v1/chat/completions", { model: "gpt-4o" }, undefined, /^messages is required$/],
    ["openai without model", "/v1/chat/completions", { messages: [] }, undefined, /^model is required$/],
    ["openai messages not an array", "/v1/chat/completions", { model: "m", messages: { role: "user" } }, undefined, /^messages must be an array, got object$/],
    ["openai message not an object", "/v1/chat/completions", { model: "m", messages: ["hi"] }, undefined, /^messages\[0\] must be an object, got string$/],
    ["openai content a number", "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: 5 }] }, undefined, /^messages\[0\]\.content must be a string or an array, got number$/],
    ["openai model a number", "/v1/chat/completions", { model: 4, messages: [] }, undefined, /^model must be a non-empty string, got number$/],
    ["openai stream a string", "/v1/chat/completions", { model: "m", messages: [], stream: "yes" }, undefined, /^stream must be a boolean, got string$/],
    ["openai negative max_tokens", "/v1/chat/completions", { model: "m", messages: [], max_tokens: -5 }, undefined, /^max_tokens must be a non-negative integer, got -5$/],
    ["openai fractional max_completion_tokens", "/v1/chat/completions", { model: "m", messages: [], max_completion_tokens: 1.5 }, undefined, /^max_completion_tokens must be a non-negative integer, got 1\.5$/],
    ["openai string max_tokens", "/v1/chat/completions", { model: "m", messages: [], max_tokens: "100" }, undefined, /^max_tokens must be a non-negative integer, got "100"$/],
    ["openai tools not an array", "/v1/chat/completions", { model: "m", messages: [], tools: {} }, undefined, /^tools must be an array, got object$/],
    ["openai embeddings input of objects", "/v1/embeddings", { model: "m", input: [{}] }, undefined, /^input\[0\] must be a string or an array of token ids, got object$/],
    ["responses input a number", "/v1/responses", { model: "m", input: 3 }, undefined, /^input must be a string or an array, got number$/],
    ["anthropic without max_tokens", "/v1/messages", { model: "c", messages: [] }, undefined, /^max_tokens is required$/],
    ["anthropic content block not an object", "/v1/messages", { model: "c", max_tokens: 1, messages: [{ role: "user", content: [null] }] }, undefined, /^messages\[0\]\.content\[0\] must be an object, got null$/],
    ["anthropic system a number", "/v1/messages", { model: "c", max_tokens: 1, messages: [], system: 1 }, undefined, /^system must be a string or an array, got number$/],
    ["mistral messages a string", "/v1/chat/completions", { model: "m", messages: "hi" }, "api.mistral.ai", /^messages must be an array, got string$/],
    ["gemini without contents", "/v1beta/models/g:generateContent", {}, undefined, /^contents is required$/],
    ["gemini contents an object", "/v1beta/models/g:generateContent", { contents: { parts: [] } }, undefined, /^contents must be an array, got object$/],
    ["gemini parts a string", "/v1beta/models/g:generateContent", { contents: [{ parts: "hi" }] }, undefined, /^contents\[0\]\.parts must be an array, got string$/],
    ["gemini maxOutputTokens a string", "/v1beta/models/g:generateContent", { contents: [], generationConfig: { maxOutputTokens: "9" } }, undefined, /^generationConfig\.maxOutputTokens must be a non-negative integer/],
    ["ollama content an array", "/api/chat", { model: "l", messages: [{ role: "user", content: ["x"] }] }, undefined, /^messages\[0\]\.content must be a string, got array$/],
    ["ollama images not an array", "/api/generate", { model: "l", prompt: "p", images: "AA" }, undefined, /^body\.images must be an array, got string$/],
    ["ollama without model", "/api/chat", { messages: [] }, undefined, /^model is required$/],
  ];
  it.each(cases)("%s", (_title, path, body, host, message) => {
    const out = llm(path, body, { host });
    expect(out.error?.code).toBe("schema_mismatch");
    expect(out.error?.message).toMatch(message);
  });

  it("readable parts of a mismatched body are still reported", () => {
    const out = llm("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hello" }, 7], max_tokens: 50 });
    expect(out).toMatchObject({ model: "gpt-4o", max_output_tokens: 50, message_count: 2, error: { code: "schema_mismatch" } });
    expect(out.estimated_input_tokens).toBeGreaterThan(0);
  });
});

/** mulberry32, so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ["model", "messages", "content", "parts", "contents", "text", "type", "input", "prompt", "tools", "system", "stream", "max_tokens",
  "generationConfig", "maxOutputTokens", "options", "num_predict", "images", "role", "tool_calls", "function", "arguments", "source", "instructions", "requests", "__proto__"];

function garbage(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 4 ? 7 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return next() < 0.5;
    case 2: return [0, -1, 1.5, 1e308, -0, 2 ** 53, Number.MAX_SAFE_INTEGER][Math.floor(next() * 7)];
    case 3: return ["", "x", "image_url", "text", "image", "\u0000", "😀".repeat(3), "a".repeat(1000)][Math.floor(next() * 8)];
    case 4: return KEYS[Math.floor(next() * KEYS.length)];
    case 5: return [];
    case 6: return {};
    case 7: return Array.from({ length: Math.floor(next() * 4) }, () => garbage(next, depth + 1));
    default: {
      const obj: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 5); i > 0; i--) obj[KEYS[Math.floor(next() * KEYS.length)] ?? "k"] = garbage(next, depth + 1);
      return obj;
    }
  }
}

describe("fuzzing with garbage bodies", () => {
  const allPaths: [string, string | undefined][] = [
    ["/v1/chat/completions", undefined], ["/v1/completions", undefined], ["/v1/embeddings", undefined], ["/v1/responses", undefined],
    ["/openai/deployments/d/chat/completions", undefined], ["/v1/messages", undefined], ["/v1/messages/count_tokens", undefined], ["/v1/complete", undefined],
    ["/v1/fim/completions", "api.mistral.ai"], ["/v1beta/models/g:generateContent", undefined], ["/v1beta/models/g:countTokens", undefined],
    ["/v1beta/models/g:embedContent", undefined], ["/v1beta/models/g:batchEmbedContents", undefined], ["/api/chat", undefined], ["/api/generate", undefined],
    ["/api/embed", undefined], ["/api/embeddings", undefined],
  ];

  it("2000 random bodies per path never throw and always give a well-formed input.llm", () => {
    const next = rng(1234);
    const problems: string[] = [];
    for (const [path, host] of allPaths) {
      for (let i = 0; i < 2000; i++) {
        const body = JSON.parse(JSON.stringify({ x: garbage(next, 0) })).x as unknown;
        const out = buildLlmInput({ method: "POST", path, headers: host ? { host } : {}, body, truncated: next() < 0.05 });
        const wellFormed =
          out !== undefined &&
          Number.isSafeInteger(out.estimated_input_tokens) && out.estimated_input_tokens >= 0 &&
          Number.isSafeInteger(out.message_count) && out.message_count >= 0 &&
          (out.max_output_tokens === null || (Number.isSafeInteger(out.max_output_tokens) && out.max_output_tokens >= 0)) &&
          (out.model === null || typeof out.model === "string") &&
          typeof out.stream === "boolean" &&
          (out.error === undefined || ["body_missing", "body_truncated", "body_not_json", "schema_mismatch"].includes(out.error.code)) &&
          PROVIDER_IDS.every((provider) => Array.isArray(extractPromptTexts(provider, body))) &&
          Array.isArray(extractPromptTexts(out, body));
        if (!wellFormed) problems.push(`${path} ${JSON.stringify(body).slice(0, 200)} → ${JSON.stringify(out)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("a body nested 5000 levels deep answers with an error, not a crash", () => {
    let deep: unknown = "x";
    for (let i = 0; i < 5000; i++) deep = [{ type: "tool_result", content: [deep] }];
    const out = llm("/v1/messages", { model: "c", max_tokens: 1, messages: [{ role: "user", content: deep }] });
    expect(out.provider).toBe("anthropic");
    let tools: unknown = {};
    for (let i = 0; i < 5000; i++) tools = { a: tools };
    const withTools = llm("/v1/chat/completions", { model: "m", messages: [], tools: [tools] });
    expect(withTools).toMatchObject({ has_tools: true });
    expect(withTools.estimated_input_tokens).toBeGreaterThan(0);
  });

  it("unknown provider ids give no prompt texts rather than throwing", () => {
    expect(extractPromptTexts("nope" as never, { messages: [{ content: "x" }] })).toEqual([]);
    expect(extractPromptTexts("openai", "not an object")).toEqual([]);
  });
});

describe("bounded work", () => {
  it("scans at most 1 MiB of text and extrapolates the rest", () => {
    const chunk = "The quick brown fox jumps over the lazy dog. ";
    const small = llm("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: chunk.repeat(20_000) }] });
    const huge = llm("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: chunk.repeat(200_000) }] });
    expect(huge.error).toBeUndefined();
    const ratio = (huge.estimated_input_tokens - 7) / (small.estimated_input_tokens - 7);
    expect(ratio).toBeGreaterThan(9.5);
    expect(ratio).toBeLessThan(10.5);
    const texts = extractPromptTexts("openai", { messages: [{ content: chunk.repeat(200_000) }, { content: "tail" }] });
    expect(texts.reduce((n, t) => n + t.length, 0)).toBe(1 << 20);
    expect(texts).toHaveLength(1);
  });

  it("a 9 MB body is handled in well under a second", () => {
    const messages = Array.from({ length: 100_000 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `message number ${i} with some words in it` }));
    const start = performance.now();
    const out = llm("/v1/chat/completions", { model: "gpt-4o", messages });
    expect(performance.now() - start).toBeLessThan(1000);
    expect(out.message_count).toBe(100_000);
  });
});
