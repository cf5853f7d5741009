import { normalizeEntry } from "../audit/record.js";
import { buildInput } from "../authz/input.js";
import type { Settings } from "../config/settings.js";
import { decisionLogEvent, type DecisionLogSink } from "../decision-log/index.js";
import { llmEnricher } from "../llm/enricher.js";
import { attachDecisionInput, logDecision, type DecisionEvent } from "../observability/decision-log.js";
import { createLogger } from "../observability/logger.js";
import { guardPatterns, maskValue } from "../observability/mask.js";
import { findSentinels, sentinelRequest, type MaskingEvidence, type SelfTestOutputs } from "../observability/mask-self-test.js";
import type { PolicyEngine } from "../policy/engine.js";

export interface SelfTestParts {
  settings: Settings;
  engine: () => PolicyEngine | undefined;
  decisionLogs?: DecisionLogSink | undefined;
}

/** The console decision line, written by the same code and logger setup as a real Check's. */
function consoleLine(parts: SelfTestParts, engine: PolicyEngine | undefined, input: unknown, result: unknown): string {
  let text = "";
  const logger = createLogger({ level: "info", destination: { write: (s: string) => void (text += s) } });
  const http = (input as { attributes?: { request?: { http?: { method?: string; path?: string } } } }).attributes?.request?.http;
  const event: DecisionEvent = { decision_id: "masking-self-test", revision: engine?.revision, allowed: false, status: 403, method: http?.method, path: http?.path, latency_ms: 0 };
  if (parts.settings.logDecisionInput && engine) {
    attachDecisionInput(event, { input, result }, { logBody: parts.settings.logDecisionBody, policyMask: engine.evaluateLogMask?.bind(engine), policyData: engine.data });
  }
  logDecision(logger, event);
  return text;
}

/**
 * Runs the masking self-test on the running configuration: a request full of fresh sentinel
 * secrets is turned into a policy input exactly as a Check does (same input bounds, same LLM
 * enrichment, the active revision's own answer), then written by every output that copies request
 * data: the console decision line, the decision-log upload (the running sink's own preview, with
 * its drop and mask policies), an audit record, and the admin API/report (their masking). Nothing
 * is sent, logged, counted or stored.
 */
export function maskingEvidence(parts: SelfTestParts): MaskingEvidence {
  const { settings } = parts;
  const engine = parts.engine();
  const { request, sentinels } = sentinelRequest();
  const input = buildInput(request, { skipBodyParse: settings.skipRequestBodyParse, limits: settings.limits });
  let result: unknown;
  if (engine) {
    llmEnricher()(input, engine);
    try {
      result = engine.evaluate(input);
    } catch {
      result = undefined;
    }
  }
  const value = Array.isArray(result) ? (result[0] as { result?: unknown } | undefined)?.result : undefined;
  const text = JSON.stringify({ input, result });
  const outputs: SelfTestOutputs = {
    "console decision line": () => consoleLine(parts, engine, input, result),
    ...(parts.decisionLogs
      ? {
          "uploaded decision log": () => {
            const preview = parts.decisionLogs!.preview(decisionLogEvent({ decisionId: "masking-self-test", path: settings.decisionPath, revision: engine?.revision, input, result: value }));
            return typeof preview === "string" ? undefined : preview.json;
          },
        }
      : {}),
    "audit trail record": () =>
      JSON.stringify(normalizeEntry({ action: "rejection", source: text.slice(0, 50_000), reason: text, operator: text.slice(0, 50_000), details: { input } }, { maxFieldChars: 1_000_000, maxDetailsBytes: 10_000_000 })),
    "admin API and report": () => JSON.stringify(maskValue({ input, result })),
  };
  const engineMask = engine?.hasLogMask === true;
  return {
    settings: {
      logDecisionInput: settings.logDecisionInput,
      logDecisionBody: settings.logDecisionBody,
      decisionLogUpload: parts.decisionLogs !== undefined,
      policyMaskRules: engineMask,
      guardPatterns: guardPatterns(engine?.data)?.length ?? 0,
      ...(engine ? { revision: engine.revision } : {}),
    },
    selfTest: findSentinels(sentinels, outputs),
  };
}
