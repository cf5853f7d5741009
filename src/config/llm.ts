import { z } from "zod";
import { TollgateError } from "../errors.js";

export const PROVIDER_IDS = ["openai", "azure_openai", "anthropic", "mistral", "gemini", "ollama"] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];

export interface LlmSettings {
  /** Path prefix (e.g. "/openai") → provider whose paths follow it. */
  pathPrefixes?: Readonly<Record<string, ProviderId>>;
  /** Host (exact, or "*.example.com") → provider; checked before the built-in hosts. */
  hosts?: Readonly<Record<string, ProviderId>>;
}

const providerId = z.enum(PROVIDER_IDS);

const prefix = z
  .string()
  .regex(/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~-]$/, 'a path prefix starts with "/", has no query and does not end in "/"');

const host = z
  .string()
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'a host is a lower-case name, optionally "*.domain"');

export const llmSettingsSchema = z
  .object({
    pathPrefixes: z.record(prefix, providerId).optional(),
    hosts: z.record(host, providerId).optional(),
  })
  .strict();

/** The `llm:` block of the settings file: which paths and hosts are which LLM provider, beyond the built-in ones. */
/** Validates the `llm` settings block; throws TollgateError(config_error) listing every problem. */
export function parseLlmSettings(raw: unknown): LlmSettings {
  const parsed = llmSettingsSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    // zod reports a bad record key as "Invalid key in record" with the key's own issues nested.
    const nested = issue.code === "invalid_key" ? issue.issues.map((inner) => inner.message).join(", ") : "";
    return `${issue.path.join(".") || "llm"}: ${nested || issue.message}`;
  });
  throw new TollgateError("config_error", `invalid llm settings: ${problems.join("; ")}`);
}
