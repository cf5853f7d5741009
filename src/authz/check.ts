import { randomUUID } from "node:crypto";
import { TollgateError } from "../errors.js";
import type { CheckRequest, CheckResponse } from "../gen/envoy/service/auth/v3/external_auth.js";
import { MAX_UNITS } from "../limits/keys.js";
import { encodeReservation, RESERVATION_METADATA_KEY } from "../limits/reservation.js";
import type { LimitStore, ReservedCounter } from "../limits/types.js";
import { isPlainObject } from "../json.js";
import { maskDecisionCopy } from "../observability/mask.js";
import { logDecision, type DecisionEvent } from "../observability/decision-log.js";
import type { Logger } from "../observability/logger.js";
import { reasonLabel, type Metrics } from "../observability/metrics.js";
import type { PolicyEngine } from "../policy/engine.js";
import { diffDecisions, type ShadowStats } from "./shadow.js";
import { bareDecision, readDecision, type Decision, type Pair } from "./decision.js";
import { buildInput, type InputLimits, type PolicyInput } from "./input.js";
import { InputTooLarge } from "./input-error.js";
import { applyPolicyLimits } from "./limits.js";
import { DEFAULT_HEADER_NAMES, type HeaderNames } from "../limits/headers.js";
import { denial, toCheckResponse } from "./response.js";
import type { UsageTracker } from "./usage.js";
import type { SecretResolver } from "./secrets.js";

/** Adds derived fields to the input before evaluation (e.g. input.llm). Must not throw. */
export type InputEnricher = (input: PolicyInput, engine: PolicyEngine) => void;

/** Formats a denial tollgate makes itself (unreadable request) for the client; undefined keeps plain text. */
export type DenialFormatter = (d: { path: string; host: string | undefined; status: number; message: string }) => { body: string; headers: Pair[] } | undefined;

export interface AuthorizerOptions {
  policy: () => PolicyEngine | undefined;
  logger: Logger;
  limits: InputLimits;
  skipBodyParse: boolean;
  dryRun: boolean;
  onDecisionError: "error" | "deny";
  logDecisionInput: boolean;
  /** Keep body text (masked) in logged and uploaded decision inputs; default removed. */
  logDecisionBody: boolean;
  store?: LimitStore;
  secrets?: SecretResolver;
  enrichers?: InputEnricher[];
  denialFormatter?: DenialFormatter;
  metrics?: Metrics;
  /** Names of the RateLimit-* and Retry-After headers; false sends only Retry-After on a 429. */
  rateLimitHeaders?: HeaderNames | false;
  /** A candidate revision evaluated on live traffic beside the active one; it never affects the answer. */
  shadow?: { candidate: () => PolicyEngine | undefined; sampleRate: number; stats: ShadowStats };
  usage?: UsageTracker;
  /** Signs the reservation handle of LLM calls whose limits are marked reconcile: true (see src/limits/reservation-key.ts). */
  reservationKey?: Uint8Array;
  /** Receives every decision (input and result included) for an OPA-compatible decision-log sink. */
  decisionLog?: (event: { decisionId: string; revision: string | undefined; input: PolicyInput | undefined; result: unknown; handlerNs: number }) => void;
}

interface Outcome {
  decision: Decision;
  reason?: string;
  result?: unknown;
  extraMetadata?: Record<string, unknown>;
}

/**
 * One Check, start to end: CheckRequest → input → policy → limits → CheckResponse.
 * Errors a client caused become denials; errors tollgate or the policy caused become a gRPC
 * error (Envoy then applies its status_on_error), or a 403 when onDecisionError is "deny".
 */
export class Authorizer {
  private readonly o: AuthorizerOptions;

  constructor(options: AuthorizerOptions) {
    this.o = options;
  }

  async check(req: CheckRequest): Promise<CheckResponse> {
    const started = performance.now();
    const decisionId = randomUUID();
    const http = req.attributes?.request?.http;
    const engine = this.o.policy();
    const event: DecisionEvent = {
      decision_id: decisionId, revision: engine?.revision, allowed: false, status: 0,
      method: http?.method, path: http?.path, latency_ms: 0,
    };
    let input: PolicyInput | undefined;
    try {
      if (!engine) throw new TollgateError("policy_not_loaded", "no policy revision is loaded yet");
      const outcome = await this.decide(req, engine, decisionId, (i) => (input = i));
      let decision = outcome.decision;
      event.allowed = decision.allowed;
      event.status = decision.allowed ? 200 : decision.httpStatus;
      if (outcome.reason) event.reason = outcome.reason;
      const tenant = decision.dynamicMetadata?.["tenant"];
      if (typeof tenant === "string") this.o.metrics?.tenantCheck(tenant, decision.allowed ? "allow" : "deny");
      if (!decision.allowed && this.o.dryRun) {
        event.dry_run = true;
        decision = bareDecision(true);
      }
      if (this.o.logDecisionInput) this.attachInput(event, engine, input, outcome.result);
      // OPA's decision-log events carry the decision's value, not the result set.
      const value = Array.isArray(outcome.result) ? (outcome.result[0] as { result?: unknown } | undefined)?.result : undefined;
      this.o.decisionLog?.({ decisionId, revision: engine.revision, input, result: value, handlerNs: (performance.now() - started) * 1e6 });
      return toCheckResponse(decision, { ...decision.dynamicMetadata, ...outcome.extraMetadata, decision_id: decisionId });
    } catch (err) {
      const e = TollgateError.from(err);
      event.reason = e.code;
      if (this.o.onDecisionError === "deny" && e.code !== "policy_not_loaded") {
        event.status = 403;
        this.o.logger.warn({ event: "decision_error", decision_id: decisionId, code: e.code, error: e.message }, "decision error answered with a denial");
        return toCheckResponse(denial(403, ""), { decision_id: decisionId });
      }
      event.status = e.code;
      // The server's handler wrapper logs and counts the failure by its code.
      throw e;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      event.latency_ms = Math.round(seconds * 1e6) / 1000;
      logDecision(this.o.logger, event);
      const result = typeof event.status === "string" ? "error" : event.allowed ? "allow" : "deny";
      this.o.metrics?.checks.inc({ result, reason: result === "allow" ? "" : reasonLabel(event.reason) });
      this.o.metrics?.checkDuration.observe(seconds);
    }
  }

  private async decide(req: CheckRequest, engine: PolicyEngine, decisionId: string, keepInput: (i: PolicyInput) => void): Promise<Outcome> {
    let input: PolicyInput;
    try {
      input = buildInput(req, { skipBodyParse: this.o.skipBodyParse, limits: this.o.limits });
    } catch (err) {
      const e = TollgateError.from(err, "request_parse_error");
      const status = e instanceof InputTooLarge ? e.httpStatus : 400;
      return { decision: this.ownDenial(req, status, e.message), reason: e.code };
    }
    for (const enrich of this.o.enrichers ?? []) enrich(input, engine);
    keepInput(input);

    const endEval = this.o.metrics?.evalDuration.startTimer();
    const result = engine.evaluate(input);
    endEval?.();
    const decision = readDecision(result);
    this.compareWithCandidate(input, decision, decisionId);
    if (!decision.allowed) {
      if (decision.body === undefined && decision.message !== undefined) {
        const own = this.ownDenial(req, decision.httpStatus, decision.message);
        decision.body = own.body;
        decision.headers.push(...own.headers);
      }
      return { decision, result, reason: reasonLabel(decision.dynamicMetadata?.["reason"]) };
    }

    const extraMetadata: Record<string, unknown> = {};
    if (decision.limits.length > 0) {
      if (!this.o.store) throw new TollgateError("config_error", "the policy declared limits but no limit store is configured");
      const verdict = await applyPolicyLimits({
        store: this.o.store,
        limits: decision.limits,
        logger: this.o.logger,
        ...(this.o.rateLimitHeaders ? { headerNames: this.o.rateLimitHeaders } : {}),
      });
      extraMetadata["limits"] = verdict.usage;
      const tenant = decision.dynamicMetadata?.["tenant"];
      if (typeof tenant === "string" && this.o.usage) this.o.usage.record(tenant, decision.limits, verdict);
      const retryAfter = (this.o.rateLimitHeaders || DEFAULT_HEADER_NAMES).retryAfter;
      const headers = this.o.rateLimitHeaders === false ? verdict.headers.filter(([k]) => k === retryAfter) : verdict.headers;
      if (verdict.result === "over") this.o.metrics?.overLimit.inc({ domain: "policy" });
      if (verdict.result === "unavailable") this.o.metrics?.failureModeUsed.inc({ mode: "deny" });
      if (verdict.failedOpen) this.o.metrics?.failureModeUsed.inc({ mode: "allow" });
      if (verdict.result === "over") {
        const over = decision.limitedBody !== undefined ? denial(429, decision.limitedBody) : this.ownDenial(req, 429, "rate limit exceeded");
        over.headers.push(...headers);
        return { decision: over, reason: "rate_limited", result, extraMetadata };
      }
      if (verdict.result === "unavailable") {
        return { decision: denial(503, "rate limit store unavailable", []), reason: "limit_store_unavailable", result, extraMetadata };
      }
      if (verdict.result === "shed") {
        const shed = this.ownDenial(req, 503, "overloaded: try again shortly");
        shed.headers.push(...verdict.headers);
        return { decision: shed, reason: "overloaded", result, extraMetadata };
      }
      decision.responseHeadersToAdd.push(...headers);
      this.attachReservation({ decision, input, decisionId, reserved: verdict.reserved, extraMetadata });
    }
    if (decision.upstreamSecrets.length > 0) {
      if (!this.o.secrets) throw new TollgateError("config_error", "the policy asked for upstream secrets but no secret resolver is configured");
      decision.headers.push(...this.o.secrets.resolve(decision.upstreamSecrets));
    }
    return { decision, result, extraMetadata };
  }

  /**
   * For an admitted LLM call with limits marked reconcile: true, dynamic_metadata gets the signed
   * reservation the ext_proc server reconciles at the end of the response, and the upstream is asked
   * for an uncompressed response (accept-encoding: identity, after any the policy set, so it wins)
   * so the usage in it is read without decoding.
   */
  private attachReservation(p: { decision: Decision; input: PolicyInput; decisionId: string; reserved: ReservedCounter[]; extraMetadata: Record<string, unknown> }): void {
    const key = this.o.reservationKey;
    const llm = p.input["llm"];
    if (p.reserved.length === 0 || key === undefined || !isPlainObject(llm)) return;
    const text = (v: unknown, max: number): string => (typeof v === "string" ? v.slice(0, max) : "");
    const tokens = llm["estimated_input_tokens"];
    p.extraMetadata[RESERVATION_METADATA_KEY] = encodeReservation(
      {
        v: 1,
        decisionId: p.decisionId,
        provider: text(llm["provider"], 64),
        operation: text(llm["operation"], 64),
        model: text(llm["model"], 512),
        stream: llm["stream"] === true,
        estimatedInputTokens: typeof tokens === "number" && Number.isFinite(tokens) ? Math.min(MAX_UNITS, Math.max(0, Math.round(tokens))) : 0,
        issuedAtMs: Date.now(),
        counters: p.reserved,
      },
      key,
    );
    p.decision.headers.push(["accept-encoding", "identity"]);
  }

  /** Shadow evaluation: the candidate sees the same input; only the difference is recorded. */
  private compareWithCandidate(input: PolicyInput, active: Decision, decisionId: string): void {
    const shadow = this.o.shadow;
    const candidate = shadow?.candidate();
    if (!shadow || !candidate || Math.random() >= shadow.sampleRate) return;
    let diff;
    try {
      diff = diffDecisions(active, readDecision(candidate.evaluate(input)));
    } catch (err) {
      shadow.stats.recordError();
      this.o.logger.warn({ event: "shadow_error", decision_id: decisionId, revision: candidate.revision, error: TollgateError.from(err).message }, "candidate policy failed");
      return;
    }
    shadow.stats.record(diff);
    if (diff) this.o.logger.info({ event: "shadow_diff", decision_id: decisionId, candidate_revision: candidate.revision, diff }, "candidate policy disagrees");
  }

  /** A denial in the client's own error format when a formatter recognises the request, else plain text. */
  private ownDenial(req: CheckRequest, status: number, message: string): Decision {
    const http = req.attributes?.request?.http;
    const formatted = this.o.denialFormatter?.({ path: http?.path ?? "", host: http?.host, status, message });
    return formatted ? denial(status, formatted.body, formatted.headers) : denial(status, message);
  }

  private attachInput(event: DecisionEvent, engine: PolicyEngine, input: PolicyInput | undefined, result: unknown): void {
    const copy = maskDecisionCopy({ input, result }, { logBody: this.o.logDecisionBody, policyMask: engine.evaluateLogMask?.bind(engine), policyData: engine.data });
    if (!copy.ok) {
      // A broken or unsupported mask must not leak: drop the input rather than log it unmasked.
      this.o.logger.warn({ event: "log_mask_error", error: copy.reason }, "log mask failed; input omitted");
      return;
    }
    event.input = copy.doc["input"];
    event.result = copy.doc["result"];
    if (copy.erased.length > 0) event.erased = copy.erased;
    if (copy.masked.length > 0) event.masked = copy.masked;
  }
}
