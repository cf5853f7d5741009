import { describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { llmErrorBody, type ProviderId } from "../../src/llm/index.js";

describe("llmErrorBody speaks each provider's error dialect", () => {
  const cases: [ProviderId, number, unknown][] = [
    ["openai", 400, { error: { message: "m", type: "invalid_request_error", param: null, code: null } }],
    ["openai", 401, { error: { message: "m", type: "invalid_request_error", param: null, code: "invalid_api_key" } }],
    ["openai", 403, { error: { message: "m", type: "request_forbidden", param: null, code: null } }],
    ["openai", 404, { error: { message: "m", type: "invalid_request_error", param: null, code: null } }],
    ["openai", 429, { error: { message: "m", type: "requests", param: null, code: "rate_limit_exceeded" } }],
    ["openai", 503, { error: { message: "m", type: "server_error", param: null, code: null } }],
    ["azure_openai", 401, { error: { code: "401", message: "m" } }],
    ["azure_openai", 429, { error: { code: "429", message: "m" } }],
    ["anthropic", 400, { type: "error", error: { type: "invalid_request_error", message: "m" } }],
    ["anthropic", 401, { type: "error", error: { type: "authentication_error", message: "m" } }],
    ["anthropic", 403, { type: "error", error: { type: "permission_error", message: "m" } }],
    ["anthropic", 404, { type: "error", error: { type: "not_found_error", message: "m" } }],
    ["anthropic", 409, { type: "error", error: { type: "invalid_request_error", message: "m" } }],
    ["anthropic", 413, { type: "error", error: { type: "request_too_large", message: "m" } }],
    ["anthropic", 429, { type: "error", error: { type: "rate_limit_error", message: "m" } }],
    ["anthropic", 500, { type: "error", error: { type: "api_error", message: "m" } }],
    ["anthropic", 503, { type: "error", error: { type: "api_error", message: "m" } }],
    ["anthropic", 529, { type: "error", error: { type: "overloaded_error", message: "m" } }],
    ["gemini", 400, { error: { code: 400, message: "m", status: "INVALID_ARGUMENT" } }],
    ["gemini", 401, { error: { code: 401, message: "m", status: "UNAUTHENTICATED" } }],
    ["gemini", 403, { error: { code: 403, message: "m", status: "PERMISSION_DENIED" } }],
    ["gemini", 413, { error: { code: 413, message: "m", status: "FAILED_PRECONDITION" } }],
    ["gemini", 429, { error: { code: 429, message: "m", status: "RESOURCE_EXHAUSTED" } }],
    ["gemini", 503, { error: { code: 503, message: "m", status: "UNAVAILABLE" } }],
    ["gemini", 502, { error: { code: 502, message: "m", status: "INTERNAL" } }],
    ["mistral", 400, { object: "error", message: "m", type: "invalid_request_error", param: null, code: null }],
    ["mistral", 429, { object: "error", message: "m", type: "rate_limited", param: null, code: null }],
    ["mistral", 500, { object: "error", message: "m", type: "internal_server_error", param: null, code: null }],
    ["ollama", 403, { error: "m" }],
    ["ollama", 429, { error: "m" }],
  ];
  it.each(cases)("%s %d", (provider, status, expected) => {
    const out = llmErrorBody(provider, status, "m");
    expect(out.contentType).toBe("application/json");
    expect(JSON.parse(out.body)).toEqual(expected);
  });

  it("messages with quotes, newlines and unicode stay valid JSON", () => {
    const message = 'quota "daily" exceeded\nretry after 3s — 日本';
    for (const provider of ["openai", "azure_openai", "anthropic", "gemini", "mistral", "ollama"] as const) {
      expect(JSON.stringify(JSON.parse(llmErrorBody(provider, 429, message).body))).toContain("retry after 3s — 日本");
    }
  });

  it.each([200, 302, 399, 600, 429.5, Number.NaN])("status %d is refused with a TollgateError", (status) => {
    expect(() => llmErrorBody("openai", status, "m")).toThrow(TollgateError);
  });

  it("an unknown provider is a config_error", () => {
    try {
      llmErrorBody("bedrock" as ProviderId, 429, "m");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(TollgateError);
      expect((err as TollgateError).code).toBe("config_error");
    }
  });
});
