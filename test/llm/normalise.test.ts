import { describe, expect, it } from "vitest";
import { buildLlmInput, type LlmInput } from "../../src/llm/index.js";

function llm(path: string, body: unknown, host?: string): LlmInput {
  const out = buildLlmInput({ method: "POST", path, headers: host ? { ":authority": host } : {}, body, truncated: false });
  if (!out) throw new Error(`not recognised: ${path}`);
  return out;
}

type Facts = Pick<LlmInput, "model" | "stream" | "max_output_tokens" | "message_count" | "has_tools" | "has_images">;

const USER = { role: "user", content: "hello" };
const IMAGE_URL = { type: "image_url", image_url: { url: "https://example.com/cat.png" } };
const FN_TOOL = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } };

describe("normalising model, stream, output cap, messages, tools and images", () => {
  const cases: [string, string, unknown, string | undefined, Facts][] = [
    ["openai chat minimal", "/v1/chat/completions", { model: "gpt-4o", messages: [USER] }, undefined,
      { model: "gpt-4o", stream: false, max_output_tokens: null, message_count: 1, has_tools: false, has_images: false }],
    ["openai max_completion_tokens wins over max_tokens", "/v1/chat/completions",
      { model: "gpt-4o", messages: [USER, USER], stream: true, max_tokens: 10, max_completion_tokens: 99 }, undefined,
      { model: "gpt-4o", stream: true, max_output_tokens: 99, message_count: 2, has_tools: false, has_images: false }],
    ["openai max_tokens alone", "/v1/chat/completions", { model: "o3", messages: [USER], max_tokens: 0 }, undefined,
      { model: "o3", stream: false, max_output_tokens: 0, message_count: 1, has_tools: false, has_images: false }],
    ["openai image part and tools", "/v1/chat/completions",
      { model: "gpt-4o", messages: [{ role: "user", content: [{ type: "text", text: "what is this" }, IMAGE_URL] }], tools: [FN_TOOL] }, undefined,
      { model: "gpt-4o", stream: false, max_output_tokens: null, message_count: 1, has_tools: true, has_images: true }],
    ["openai legacy functions count as tools; empty tools do not", "/v1/chat/completions",
      { model: "gpt-4", messages: [USER], functions: [{ name: "f", parameters: {} }], tools: [] }, undefined,
      { model: "gpt-4", stream: false, max_output_tokens: null, message_count: 1, has_tools: true, has_images: false }],
    ["openai completions", "/v1/completions", { model: "gpt-3.5-turbo-instruct", prompt: ["a", "b", "c"], max_tokens: 16, stream: true }, undefined,
      { model: "gpt-3.5-turbo-instruct", stream: true, max_output_tokens: 16, message_count: 3, has_tools: false, has_images: false }],
    ["openai embeddings", "/v1/embeddings", { model: "text-embedding-3-small", input: "hello" }, undefined,
      { model: "text-embedding-3-small", stream: false, max_output_tokens: null, message_count: 1, has_tools: false, has_images: false }],
    ["openai responses", "/v1/responses",
      { model: "gpt-4.1", instructions: "be brief", input: [{ role: "user", content: [{ type: "input_text", text: "hi" }, { type: "input_image", image_url: "data:x" }] }],
        max_output_tokens: 500, stream: true, tools: [{ type: "web_search" }] }, undefined,
      { model: "gpt-4.1", stream: true, max_output_tokens: 500, message_count: 1, has_tools: true, has_images: true }],
    ["azure model is the deployment", "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", { messages: [USER], max_tokens: 7 }, undefined,
      { model: "prod-4o", stream: false, max_output_tokens: 7, message_count: 1, has_tools: false, has_images: false }],
    ["azure body model wins over deployment", "/openai/deployments/prod-4o/chat/completions", { model: "gpt-4o-mini", messages: [USER] }, undefined,
      { model: "gpt-4o-mini", stream: false, max_output_tokens: null, message_count: 1, has_tools: false, has_images: false }],
    ["anthropic messages", "/v1/messages",
      { model: "claude-sonnet-4-5", max_tokens: 1024, stream: true, system: [{ type: "text", text: "sys" }],
        messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } }, { type: "text", text: "?" }] }],
        tools: [{ name: "calc", input_schema: { type: "object" } }] }, undefined,
      { model: "claude-sonnet-4-5", stream: true, max_output_tokens: 1024, message_count: 1, has_tools: true, has_images: true }],
    ["anthropic legacy complete", "/v1/complete", { model: "claude-2.1", prompt: "\n\nHuman: hi\n\nAssistant:", max_tokens_to_sample: 300 }, undefined,
      { model: "claude-2.1", stream: false, max_output_tokens: 300, message_count: 1, has_tools: false, has_images: false }],
    ["mistral chat", "/v1/chat/completions", { model: "mistral-large-latest", messages: [USER, USER, USER], max_tokens: 256, stream: true }, "api.mistral.ai",
      { model: "mistral-large-latest", stream: true, max_output_tokens: 256, message_count: 3, has_tools: false, has_images: false }],
    ["mistral ignores max_completion_tokens (not in its schema)", "/v1/chat/completions", { model: "m", messages: [USER], max_completion_tokens: 5 }, "api.mistral.ai",
      { model: "m", stream: false, max_output_tokens: null, message_count: 1, has_tools: false, has_images: false }],
    ["mistral fim", "/v1/fim/completions", { model: "codestral-latest", prompt: "def f(", suffix: "return x", max_tokens: 64 }, "codestral.mistral.ai",
      { model: "codestral-latest", stream: false, max_output_tokens: 64, message_count: 1, has_tools: false, has_images: false }],
    ["mistral agents have no model", "/v1/agents/completions", { agent_id: "ag:1", messages: [USER] }, "api.mistral.ai",
      { model: null, stream: false, max_output_tokens: null, message_count: 1, has_tools: false, has_images: false }],
    ["gemini generateContent", "/v1beta/models/gemini-2.5-pro:generateContent",
      { systemInstruction: { parts: [{ text: "sys" }] }, contents: [{ role: "user", parts: [{ text: "hi" }, { inlineData: { mimeType: "image/jpeg", data: "AA" } }] }, { role: "model", parts: [{ text: "yo" }] }],
        generationConfig: { maxOutputTokens: 2048 }, tools: [{ functionDeclarations: [{ name: "f" }] }] }, undefined,
      { model: "gemini-2.5-pro", stream: false, max_output_tokens: 2048, message_count: 2, has_tools: true, has_images: true }],
    ["gemini snake_case fields and non-image file data", "/v1/models/gemini-1.5-flash:streamGenerateContent",
      { contents: [{ parts: [{ text: "a" }, { file_data: { mime_type: "application/pdf", file_uri: "gs://x" } }] }], generation_config: { max_output_tokens: 12 } }, undefined,
      { model: "gemini-1.5-flash", stream: true, max_output_tokens: 12, message_count: 1, has_tools: false, has_images: false }],
    ["gemini batch embeddings", "/v1beta/models/text-embedding-004:batchEmbedContents",
      { requests: [{ content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "b" }] } }] }, undefined,
      { model: "text-embedding-004", stream: false, max_output_tokens: null, message_count: 2, has_tools: false, has_images: false }],
    ["ollama chat streams by default", "/api/chat", { model: "llama3.2", messages: [{ role: "user", content: "hi", images: ["iVBORw0KGgo="] }], options: { num_predict: 128 } }, undefined,
      { model: "llama3.2", stream: true, max_output_tokens: 128, message_count: 1, has_tools: false, has_images: true }],
    ["ollama stream false, num_predict -1 means unbounded", "/api/chat", { model: "qwen3", messages: [USER], stream: false, options: { num_predict: -1 }, tools: [FN_TOOL] }, undefined,
      { model: "qwen3", stream: false, max_output_tokens: null, message_count: 1, has_tools: true, has_images: false }],
    ["ollama generate", "/api/generate", { model: "llava", prompt: "describe", system: "s", images: ["AA"], stream: false }, undefined,
      { model: "llava", stream: false, max_output_tokens: null, message_count: 1, has_tools: false, has_images: true }],
    ["ollama embed", "/api/embed", { model: "nomic-embed-text", input: ["a", "b"] }, undefined,
      { model: "nomic-embed-text", stream: false, max_output_tokens: null, message_count: 2, has_tools: false, has_images: false }],
  ];
  it.each(cases)("%s", (_title, path, body, host, facts) => {
    const out = llm(path, body, host);
    expect(out).toMatchObject(facts);
    expect(out.error).toBeUndefined();
    expect(out.truncated).toBe(false);
  });

  it("OpenAI token-id prompts count their ids exactly", () => {
    expect(llm("/v1/completions", { model: "m", prompt: [1, 2, 3, 4, 5] })).toMatchObject({ estimated_input_tokens: 5, message_count: 1 });
    expect(llm("/v1/embeddings", { model: "m", input: [[1, 2], [3, 4, 5]] })).toMatchObject({ estimated_input_tokens: 5, message_count: 2 });
  });

  it("message_count reports the whole array even past the 4096 entries looked into", () => {
    const messages = Array.from({ length: 5000 }, () => USER);
    const out = llm("/v1/chat/completions", { model: "m", messages });
    expect(out.message_count).toBe(5000);
    // 4096 "hello" texts are estimated, and framing covers all 5000 messages.
    expect(out.estimated_input_tokens).toBe(4096 * 1 + 5000 * 4 + 3);
  });

  it("keys are snake_case and nothing else leaks into input.llm", () => {
    expect(Object.keys(llm("/v1/chat/completions", { model: "m", messages: [] })).sort()).toEqual(
      ["estimated_input_tokens", "has_images", "has_tools", "max_output_tokens", "message_count", "model", "operation", "provider", "stream", "truncated"].sort(),
    );
  });
});
