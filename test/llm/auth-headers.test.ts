import { describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import {
  CLIENT_KEY_HEADER_NAMES,
  CLIENT_KEY_QUERY_PARAMS,
  clientKeyHeaders,
  clientKeyQueryParams,
  providerAuthHeaders,
  type ProviderId,
} from "../../src/llm/index.js";

describe("providerAuthHeaders sets the real upstream credential", () => {
  const cases: [ProviderId, Record<string, string>, Record<string, string>][] = [
    ["openai", {}, { authorization: "Bearer sk-real" }],
    ["mistral", { authorization: "Bearer client-key" }, { authorization: "Bearer sk-real" }],
    ["ollama", {}, { authorization: "Bearer sk-real" }],
    ["azure_openai", { "api-key": "client" }, { "api-key": "sk-real" }],
    ["gemini", { "x-goog-api-key": "client" }, { "x-goog-api-key": "sk-real" }],
    ["anthropic", {}, { "x-api-key": "sk-real", "anthropic-version": "2023-06-01" }],
    ["anthropic", { "anthropic-version": "2024-10-22" }, { "x-api-key": "sk-real" }],
    ["anthropic", { "Anthropic-Version": "2024-10-22" }, { "x-api-key": "sk-real" }],
    ["anthropic", { "anthropic-version": "  " }, { "x-api-key": "sk-real", "anthropic-version": "2023-06-01" }],
  ];
  it.each(cases)("%s with client headers %j → %j", (provider, client, expected) => {
    expect(providerAuthHeaders(provider, "sk-real", client)).toEqual(expected);
  });

  it("surrounding whitespace of the secret is trimmed", () => {
    expect(providerAuthHeaders("openai", "  sk-real\t", {})).toEqual({ authorization: "Bearer sk-real" });
  });

  it.each([
    ["empty", "", "secret_unavailable"],
    ["blank", "   ", "secret_unavailable"],
    ["CRLF injection", "sk-real\r\nx-admin: 1", "config_error"],
    ["NUL", "sk\u0000real", "config_error"],
  ] as const)("%s secret → TollgateError(%s)", (_title, secret, code) => {
    try {
      providerAuthHeaders("openai", secret, {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(TollgateError);
      expect((err as TollgateError).code).toBe(code);
    }
  });

  it("an unknown provider is a config_error", () => {
    expect(() => providerAuthHeaders("bedrock" as ProviderId, "k", {})).toThrow(/unknown LLM provider "bedrock"/);
  });
});

describe("client key locations to strip", () => {
  it("lists every header any SDK sends its key in", () => {
    expect([...CLIENT_KEY_HEADER_NAMES].sort()).toEqual(["api-key", "authorization", "x-api-key", "x-goog-api-key"]);
  });

  it("lists Gemini's ?key= query parameter", () => {
    expect(CLIENT_KEY_QUERY_PARAMS).toEqual(["key"]);
    expect(clientKeyQueryParams("gemini")).toEqual(["key"]);
    expect(clientKeyQueryParams("openai")).toEqual([]);
  });

  it.each([
    ["openai", ["authorization"]],
    ["mistral", ["authorization"]],
    ["ollama", ["authorization"]],
    ["azure_openai", ["api-key", "authorization"]],
    ["anthropic", ["x-api-key", "authorization"]],
    ["gemini", ["x-goog-api-key", "authorization"]],
  ] as const)("%s → %j", (provider, headers) => {
    expect(clientKeyHeaders(provider)).toEqual(headers);
  });
});
