import { getEncoding } from "js-tiktoken";
import { describe, expect, it } from "vitest";
import { buildLlmInput, estimateTextTokens, type TokenProfile } from "../../src/llm/index.js";
import { buildChatCorpus, buildPromptCorpus } from "./fixtures/prompt-corpus.js";

const ENCODERS = { o200k: getEncoding("o200k_base"), cl100k: getEncoding("cl100k_base") } as const;

const SAMPLES: [string, string][] = [
  ["English prose", "The committee met on Tuesday to review the quarterly budget and the hiring plan. Please summarise the following article in three bullet points for a busy executive; keep it under fifty words."],
  ["TypeScript", "export async function fetchUser(id: string): Promise<User | undefined> {\n  const res = await fetch(`/api/users/${encodeURIComponent(id)}`);\n  if (!res.ok) return undefined;\n  return (await res.json()) as User;\n}"],
  ["JSON", JSON.stringify({ user: { id: 48213, name: "Ada Lovelace", roles: ["admin", "billing"], quota: { daily: 250000, used: 18234.5 } }, active: true }, null, 2)],
  ["Chinese", "请帮我把下面这段话翻译成英文,并保持正式的语气。机器学习模型的训练需要大量高质量的标注数据。"],
  ["Japanese", "東京駅から新幹線で京都まで約二時間十五分かかります。エラーが発生した場合は、ログファイルを確認してください。"],
  ["Russian", "Пожалуйста, переведите этот текст на английский язык. Москва является крупнейшим городом России."],
  ["emoji chat", "Happy birthday!!! 🎉🎂🥳 Hope your day is amazing ❤️ 👨‍👩‍👧‍👦 trip to the 🏖️ next week"],
  ["numbers", "Order #48213 total: $1,284.50 on 2024-03-17T14:22:05Z; call +1 (415) 555-0134; 3.14159 2.71828 1.41421"],
  ["base64", "key: q3JxW0p8Ld2nVb7Rk1Tz9YmHc4Fs6Ge0Ua5Xo8Pi2Nw7Jv3Ql1Bd9Kt4Ry6Sz0Mh5Cx8Ef2Gu7="],
];

describe("estimate against js-tiktoken on fixed samples", () => {
  const cases = (["o200k", "cl100k"] as const).flatMap((profile) => SAMPLES.map(([name, text]) => [profile, name, text] as const));
  it.each(cases)("%s – %s is within -15%/+30% of the real count", (profile: TokenProfile, _name, text) => {
    const truth = ENCODERS[profile].encode(text).length;
    const estimate = estimateTextTokens(text, profile);
    expect(estimate).toBeGreaterThanOrEqual(Math.floor(truth * 0.85));
    expect(estimate).toBeLessThanOrEqual(Math.ceil(truth * 1.3));
  });

  it.each(["o200k", "cl100k"] as const)("%s – over the whole held-out corpus: mean abs error < 10%, bias within 0..+8%, ≤ 5% of prompts under by > 10%", (profile) => {
    const corpus = buildPromptCorpus();
    expect(corpus.length).toBeGreaterThanOrEqual(200);
    const rel = corpus.map((p) => {
      const truth = ENCODERS[profile].encode(p.text).length;
      return (estimateTextTokens(p.text, profile) - truth) / truth;
    });
    const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(rel.map(Math.abs))).toBeLessThan(0.1);
    expect(mean(rel)).toBeGreaterThan(0);
    expect(mean(rel)).toBeLessThan(0.08);
    expect(rel.filter((r) => r < -0.1).length).toBeLessThanOrEqual(corpus.length * 0.05);
    expect(Math.min(...rel)).toBeGreaterThan(-0.3);
  });
});

describe("estimateTextTokens edge cases", () => {
  it.each([
    ["", 0],
    ["a", 1],
    [" ", 1],
    ["hello", 1],
  ])("%j → %d", (text, tokens) => {
    expect(estimateTextTokens(text)).toBe(tokens);
  });

  it.each([
    ["a run of one letter", "a".repeat(8000)],
    ["spaces", " ".repeat(8000)],
    ["newlines", "\n".repeat(8000)],
    ["one punctuation mark", "!".repeat(8000)],
  ])("degenerate input (%s) is never counted below one token per 8 characters", (_name, text) => {
    expect(estimateTextTokens(text, "o200k")).toBeGreaterThanOrEqual(1000);
    expect(estimateTextTokens(text, "cl100k")).toBeGreaterThanOrEqual(1000);
  });

  it("lone surrogates and control characters do not break the scan", () => {
    expect(estimateTextTokens("\ud800\udfff\ud800 x \u0000\u0007")).toBeGreaterThan(0);
  });

  it("cl100k counts CJK heavier than o200k, as the real tokenizers do", () => {
    const text = "人工智能正在改变医疗、教育和金融等多个行业。";
    expect(estimateTextTokens(text, "cl100k")).toBeGreaterThan(estimateTextTokens(text, "o200k"));
  });
});

describe("estimated_input_tokens of whole requests", () => {
  it("whole chats land within -10%/+15% of OpenAI's count (3 per message + role + content, 3 for the reply)", () => {
    for (const chat of buildChatCorpus()) {
      const truth = chat.messages.reduce((s, m) => s + 3 + ENCODERS.o200k.encode(m.role).length + ENCODERS.o200k.encode(m.content).length, 3);
      const llm = buildLlmInput({ method: "POST", path: "/v1/chat/completions", headers: {}, truncated: false, body: { model: "gpt-4o", messages: chat.messages } });
      const est = llm?.estimated_input_tokens ?? 0;
      expect(est).toBeGreaterThanOrEqual(Math.floor(truth * 0.9));
      expect(est).toBeLessThanOrEqual(Math.ceil(truth * 1.15));
    }
  });

  it("single short message: 'hello' → 1 text token + 4 framing + 3 reply priming = 8", () => {
    const llm = buildLlmInput({ method: "POST", path: "/v1/chat/completions", headers: {}, truncated: false, body: { model: "gpt-4o", messages: [{ role: "user", content: "hello" }] } });
    expect(llm?.estimated_input_tokens).toBe(8);
    expect(ENCODERS.o200k.encode("hello").length + 3 + 1 + 3).toBe(8);
  });

  it("embeddings carry no chat framing", () => {
    const llm = buildLlmInput({ method: "POST", path: "/v1/embeddings", headers: {}, truncated: false, body: { model: "text-embedding-3-small", input: ["hello", "hello"] } });
    expect(llm?.estimated_input_tokens).toBe(2);
  });

  it("tool definitions and tool-call arguments add to the estimate", () => {
    const base = { model: "gpt-4o", messages: [{ role: "user", content: "weather in Paris?" }] };
    const plain = buildLlmInput({ method: "POST", path: "/v1/chat/completions", headers: {}, truncated: false, body: base });
    const tool = { type: "function", function: { name: "get_weather", description: "Current weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };
    const withTools = buildLlmInput({ method: "POST", path: "/v1/chat/completions", headers: {}, truncated: false, body: { ...base, tools: [tool] } });
    const toolJsonTokens = ENCODERS.o200k.encode(JSON.stringify([tool])).length;
    const added = (withTools?.estimated_input_tokens ?? 0) - (plain?.estimated_input_tokens ?? 0);
    expect(added).toBeGreaterThanOrEqual(Math.floor(toolJsonTokens * 0.85));
    expect(added).toBeLessThanOrEqual(Math.ceil(toolJsonTokens * 1.3));
  });

  it("each provider's text locations are all counted (same text, similar estimates)", () => {
    const text = "Summarise the attached quarterly report in five bullet points for the board.";
    const one = estimateTextTokens(text, "o200k");
    const gemini = buildLlmInput({ method: "POST", path: "/v1beta/models/g:generateContent", headers: {}, truncated: false,
      body: { systemInstruction: { parts: [{ text }] }, contents: [{ role: "user", parts: [{ text }, { text }] }] } });
    // 3 texts, 2 framed units (system + 1 content) × 4, + 3 reply priming.
    expect(gemini?.estimated_input_tokens).toBe(3 * one + 2 * 4 + 3);
    const responses = buildLlmInput({ method: "POST", path: "/v1/responses", headers: {}, truncated: false,
      body: { model: "gpt-4.1", instructions: text, input: [{ role: "user", content: [{ type: "input_text", text }] }, { type: "function_call_output", call_id: "c", output: text }] } });
    expect(responses?.estimated_input_tokens).toBe(3 * one + 3 * 4 + 3);
  });
});
