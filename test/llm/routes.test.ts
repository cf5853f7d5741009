import { describe, expect, it } from "vitest";
import { buildLlmInput, type LlmOperation, type LlmSettings, type ProviderId } from "../../src/llm/index.js";

function detect(path: string, options: { host?: string; settings?: LlmSettings; method?: string; body?: unknown } = {}) {
  return buildLlmInput({
    method: options.method ?? "POST",
    path,
    headers: options.host === undefined ? {} : { ":authority": options.host },
    body: options.body ?? {},
    truncated: false,
    settings: options.settings,
  });
}

describe("recognising provider paths", () => {
  const cases: [string, string | undefined, ProviderId, LlmOperation, string | null][] = [
    ["/v1/chat/completions", undefined, "openai", "chat", null],
    ["/v1/completions", undefined, "openai", "completion", null],
    ["/v1/embeddings", undefined, "openai", "embedding", null],
    ["/v1/responses", undefined, "openai", "responses", null],
    ["/v1/chat/completions", "api.openai.com", "openai", "chat", null],
    ["/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21", undefined, "azure_openai", "chat", "gpt4o-prod"],
    ["/openai/deployments/davinci/completions?api-version=2024-10-21", undefined, "azure_openai", "completion", "davinci"],
    ["/openai/deployments/ada-2/embeddings?api-version=2024-10-21", undefined, "azure_openai", "embedding", "ada-2"],
    ["/openai/responses?api-version=2025-03-01-preview", undefined, "azure_openai", "responses", null],
    ["/openai/v1/chat/completions", "contoso.openai.azure.com", "azure_openai", "chat", null],
    ["/openai/v1/responses", "contoso.cognitiveservices.azure.com:443", "azure_openai", "responses", null],
    ["/v1/messages", undefined, "anthropic", "chat", null],
    ["/v1/messages/count_tokens", undefined, "anthropic", "count_tokens", null],
    ["/v1/complete", undefined, "anthropic", "completion", null],
    ["/v1/chat/completions", "api.mistral.ai", "mistral", "chat", null],
    ["/v1/fim/completions", "codestral.mistral.ai", "mistral", "completion", null],
    ["/v1/agents/completions", "api.mistral.ai", "mistral", "chat", null],
    ["/v1/embeddings", "API.MISTRAL.AI:443", "mistral", "embedding", null],
    ["/v1beta/models/gemini-2.0-flash:generateContent", undefined, "gemini", "chat", "gemini-2.0-flash"],
    ["/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", undefined, "gemini", "chat", "gemini-2.0-flash"],
    ["/v1/models/gemini-1.5-pro:generateContent", undefined, "gemini", "chat", "gemini-1.5-pro"],
    ["/v1beta/models/gemini-2.0-flash%3AgenerateContent", undefined, "gemini", "chat", "gemini-2.0-flash"],
    ["/v1beta/models/gemini-2.0-flash:countTokens", undefined, "gemini", "count_tokens", "gemini-2.0-flash"],
    ["/v1beta/models/text-embedding-004:embedContent", undefined, "gemini", "embedding", "text-embedding-004"],
    ["/v1beta/models/text-embedding-004:batchEmbedContents", undefined, "gemini", "embedding", "text-embedding-004"],
    ["/v1beta/tunedModels/my-tuned-model:generateContent", undefined, "gemini", "chat", "my-tuned-model"],
    ["/api/chat", undefined, "ollama", "chat", null],
    ["/api/generate", undefined, "ollama", "completion", null],
    ["/api/embed", undefined, "ollama", "embedding", null],
    ["/api/embeddings", undefined, "ollama", "embedding", null],
    ["/v1/chat/completions/", undefined, "openai", "chat", null],
    ["/v1/chat/completions?foo=bar#frag", undefined, "openai", "chat", null],
  ];
  it.each(cases)("POST %s (host %s) → %s %s, model from path %s", (path, host, provider, operation, pathModel) => {
    const llm = detect(path, { host });
    expect(llm).toMatchObject({ provider, operation, model: pathModel });
  });

  it("streamGenerateContent is streaming and generateContent is not, whatever the body says", () => {
    expect(detect("/v1beta/models/g:streamGenerateContent", { body: { contents: [], stream: false } })?.stream).toBe(true);
    expect(detect("/v1beta/models/g:generateContent", { body: { contents: [], stream: true } })?.stream).toBe(false);
  });
});

describe("requests that are not LLM calls", () => {
  const paths = [
    "/",
    "",
    "/v1/models",
    "/v1/chat",
    "/v1/chat/completions/extra",
    "/V1/CHAT/COMPLETIONS",
    "/healthz",
    "/v2/chat/completions",
    "/openai/v1/chat/completions",
    "/openai/deployments//chat/completions",
    "/v1beta/models/gemini-2.0-flash",
    "/v1beta/models/a/b:generateContent",
    "/v1beta/models/gemini:unknownMethod",
    "/api/tags",
    "/api/chat/x",
    "/prefix/v1/chat/completions",
    "?/v1/chat/completions",
  ];
  it.each(paths)("POST %j → undefined", (path) => {
    expect(detect(path)).toBeUndefined();
  });

  it.each(["GET", "PUT", "DELETE", "OPTIONS", "HEAD", ""])("%j /v1/chat/completions → undefined (only POST calls a model)", (method) => {
    expect(detect("/v1/chat/completions", { method })).toBeUndefined();
  });

  it("lower-case post still counts", () => {
    expect(detect("/v1/chat/completions", { method: "post" })?.provider).toBe("openai");
  });

  it("bad argument types answer undefined instead of throwing", () => {
    const weird = { method: "POST", path: 42, headers: {}, body: {}, truncated: false } as unknown as Parameters<typeof buildLlmInput>[0];
    expect(buildLlmInput(weird)).toBeUndefined();
  });
});

describe("hosts and prefixes", () => {
  it("an OpenAI-compatible path on an unknown host is reported as openai", () => {
    expect(detect("/v1/chat/completions", { host: "llm.internal:8080" })?.provider).toBe("openai");
  });

  it("host can come from the host header or the explicit host option", () => {
    const viaHeader = buildLlmInput({ method: "POST", path: "/v1/chat/completions", headers: { host: "api.mistral.ai" }, body: {}, truncated: false });
    const viaOption = buildLlmInput({ method: "POST", path: "/v1/chat/completions", headers: { ":authority": "x" }, host: "api.mistral.ai", body: {}, truncated: false });
    expect([viaHeader?.provider, viaOption?.provider]).toEqual(["mistral", "mistral"]);
  });

  it("the bare apex of a wildcard host does not match it (mistral.ai is listed separately)", () => {
    expect(detect("/v1/chat/completions", { host: "openai.azure.com" })?.provider).toBe("openai");
    expect(detect("/v1/chat/completions", { host: "mistral.ai" })?.provider).toBe("mistral");
    expect(detect("/v1/chat/completions", { host: "evilmistral.ai" })?.provider).toBe("openai");
  });

  it("a configured host wins over path detection and falls through when its routes do not fit", () => {
    const settings: LlmSettings = { hosts: { "gpu-box.lan": "ollama", "*.mistral.example": "mistral" } };
    expect(detect("/api/chat", { host: "gpu-box.lan", settings })?.provider).toBe("ollama");
    expect(detect("/v1/chat/completions", { host: "gpu-box.lan", settings })?.provider).toBe("openai");
    expect(detect("/v1/chat/completions", { host: "eu.mistral.example", settings })?.provider).toBe("mistral");
  });

  it("a configured prefix routes the rest of the path, with or without the version base", () => {
    const settings: LlmSettings = { pathPrefixes: { "/openai": "openai", "/llm/claude/": "anthropic", "/mistral/v1": "mistral", "/gemini": "gemini" } };
    expect(detect("/openai/v1/chat/completions", { settings })).toMatchObject({ provider: "openai", operation: "chat" });
    expect(detect("/openai/chat/completions", { settings })).toMatchObject({ provider: "openai", operation: "chat" });
    expect(detect("/llm/claude/v1/messages", { settings })?.provider).toBe("anthropic");
    expect(detect("/mistral/v1/chat/completions", { settings })?.provider).toBe("mistral");
    expect(detect("/gemini/v1beta/models/m:generateContent", { settings })).toMatchObject({ provider: "gemini", model: "m" });
    expect(detect("/openaiX/v1/chat/completions", { settings })).toBeUndefined();
  });

  it("the longest matching prefix is tried first", () => {
    const settings: LlmSettings = { pathPrefixes: { "/llm": "openai", "/llm/ollama": "ollama" } };
    expect(detect("/llm/ollama/api/chat", { settings })?.provider).toBe("ollama");
    expect(detect("/llm/v1/chat/completions", { settings })?.provider).toBe("openai");
  });

  it("Azure deployment paths still work when a /openai prefix points at OpenAI", () => {
    const settings: LlmSettings = { pathPrefixes: { "/openai": "openai" } };
    expect(detect("/openai/deployments/d1/chat/completions", { settings })).toMatchObject({ provider: "azure_openai", model: "d1" });
  });
});

describe("careless callers", () => {
  it("missing headers and a non-boolean truncated flag do not throw", () => {
    const out = buildLlmInput({ method: "POST", path: "/v1/messages", body: null, truncated: "yes" } as unknown as Parameters<typeof buildLlmInput>[0]);
    expect(out).toMatchObject({ provider: "anthropic", truncated: false, error: { code: "body_missing" } });
  });
});
