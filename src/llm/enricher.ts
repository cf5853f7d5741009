import type { DenialFormatter, InputEnricher } from "../authz/check.js";
import type { PolicyInput } from "../authz/input.js";
import { readLlmRequest } from "./build-llm-input.js";
import { llmErrorBody } from "./error-body.js";
import { matchLlmRoute } from "./providers/registry.js";
import type { LlmSettings } from "./types.js";
import type { PolicyEngine } from "../policy/engine.js";
import { guardHits } from "./guard.js";
import { modelRoles } from "./model-globs.js";

interface HttpAttrs {
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
}

/**
 * Adds input.llm when the request is an LLM call: provider facts for the policy, plus
 * input.llm.texts, the prompt text a guard can match patterns against (bounded by the readers),
 * input.llm.guard_hits when the revision's data holds prompt-guard patterns (see guard.ts), and
 * input.llm.model_roles, the roles whose model globs match the model, when tollgate can match the
 * revision's globs exactly (see model-globs.ts).
 */
export function llmEnricher(settings?: LlmSettings): InputEnricher {
  return (input: PolicyInput, engine: PolicyEngine) => {
    const http = ((input.attributes["request"] as { http?: HttpAttrs } | undefined)?.http ?? {}) as HttpAttrs;
    const request = readLlmRequest({
      method: http.method ?? "",
      path: http.path ?? "",
      headers: http.headers ?? {},
      body: input.parsed_body,
      truncated: input.truncated_body === true,
      ...(http.host ? { host: http.host } : {}),
      ...(settings ? { settings } : {}),
    });
    if (!request) return;
    const { llm, texts } = request;
    const out: Record<string, unknown> = { ...llm, texts };
    const hits = guardHits(engine, texts);
    if (hits) out["guard_hits"] = hits;
    const roles = modelRoles(engine, llm.model);
    if (roles) out["model_roles"] = roles;
    input.llm = out;
  };
}

/**
 * Shapes tollgate's own denials (an unreadable body, an oversized request) as the provider's
 * error JSON when the request is an LLM call, so client SDKs show the message as-is.
 */
export function llmDenialBody(settings?: LlmSettings): DenialFormatter {
  return ({ path, host, status, message }) => {
    let match;
    try {
      match = matchLlmRoute({ path, ...(host ? { host } : {}), ...(settings ? { settings } : {}) });
    } catch {
      return undefined;
    }
    if (!match) return undefined;
    const { contentType, body } = llmErrorBody(match.spec.id, status, message);
    return { body, headers: [["content-type", contentType]] };
  };
}
