import { describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { parseLlmSettings } from "../../src/llm/index.js";

describe("parseLlmSettings", () => {
  it("accepts prefixes and hosts mapped to known providers", () => {
    const settings = { pathPrefixes: { "/openai": "openai", "/llm/claude": "anthropic" }, hosts: { "gpu.lan": "ollama", "*.mistral.example": "mistral" } };
    expect(parseLlmSettings(settings)).toEqual(settings);
  });

  it("treats a missing block as no settings", () => {
    expect(parseLlmSettings(undefined)).toEqual({});
    expect(parseLlmSettings({})).toEqual({});
  });

  it.each([
    ["unknown provider", { pathPrefixes: { "/x": "bedrock" } }, /pathPrefixes\.\/x/],
    ["prefix without leading slash", { pathPrefixes: { openai: "openai" } }, /path prefix starts with "\/"/],
    ["prefix with trailing slash", { pathPrefixes: { "/openai/": "openai" } }, /does not end in "\/"/],
    ["prefix with a query", { pathPrefixes: { "/a?b": "openai" } }, /path prefix/],
    ["root prefix", { pathPrefixes: { "/": "openai" } }, /path prefix/],
    ["host with a port", { hosts: { "gpu.lan:11434": "ollama" } }, /a host is a lower-case name/],
    ["upper-case host", { hosts: { "GPU.lan": "ollama" } }, /a host is a lower-case name/],
    ["unknown key", { prefixes: {} }, /prefixes|Unrecognized/i],
    ["not an object", "openai", /invalid llm settings/],
  ])("%s → config_error", (_title, raw, message) => {
    try {
      parseLlmSettings(raw);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(TollgateError);
      expect((err as TollgateError).code).toBe("config_error");
      expect((err as TollgateError).message).toMatch(message);
    }
  });
});
