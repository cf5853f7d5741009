import { CheckPipeline, type CheckPipelineOptions } from "./authz/check.js";
import { SecretResolver } from "./authz/secrets.js";
import type { Settings } from "./config/settings.js";
import { llmDenialBody, llmEnricher } from "./llm/enricher.js";

/** What the pipeline needs besides settings: the running parts serve has and eval makes up. */
export type PipelineDeps = Pick<CheckPipelineOptions, "policy" | "logger" | "store" | "metrics" | "shadow" | "usage" | "decisionLog" | "reservationKey">;

/**
 * The Check pipeline exactly as the settings describe it. `tollgate serve` and `tollgate eval`
 * both build theirs here, so one CheckRequest gets one answer whichever way it is asked.
 */
export function buildPipeline(settings: Settings, deps: PipelineDeps): CheckPipeline {
  return new CheckPipeline({
    ...deps,
    limits: settings.limits,
    skipBodyParse: settings.skipRequestBodyParse,
    dryRun: settings.dryRun,
    onDecisionError: settings.onDecisionError,
    logDecisionInput: settings.logDecisionInput,
    logDecisionBody: settings.logDecisionBody,
    secrets: new SecretResolver({ secretsDir: settings.secretsDir }),
    enrichers: [llmEnricher(settings.llm)],
    denialFormatter: llmDenialBody(settings.llm),
    rateLimitHeaders: settings.rateLimitHeaders ? settings.rateLimitHeaderNames : false,
  });
}
