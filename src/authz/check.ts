import { randomUUID } from "node:crypto";
import { TollgateError } from "../errors.js";
import type { CheckRequest, CheckResponse } from "../gen/envoy/service/auth/v3/external_auth.js";
import type { LimitStore } from "../limits/types.js";
import { attachDecisionInput, logDecision, type DecisionEvent } from "../observability/decision-log.js";
import type { Logger } from "../observability/logger.js";
import { reasonLabel, type Metrics } from "../observability/metrics.js";
import { decisionFacts, type DecisionFacts } from "./decision-facts.js";
import type { PolicyEngine } from "../policy/engine.js";
import { diffDecisions, type ShadowStats } from "./shadow.js";
import { readDecision, type Decision, type Pair } from "./decision.js";
import { buildInput, type InputLimits, type PolicyInput } from "./input.js";
import { InputTooLarge } from "./input-error.js";
import { DEFAULT_HEADER_NAMES, type HeaderNames } from "../limits/headers.js";
import { denial, toCheckResponse } from "./response.js";
import type { UsageTracker } from "./usage.js";
import type { SecretResolver } from "./secrets.js";
import { dryRunStep, limitsStep, reservationStep, secretsStep, type CheckContext, type PostDecisionStep } from "./steps.js";

/** Adds derived fields to the input before evaluation (e.g. input.llm). Must not throw. */
export type InputEnricher = (input: PolicyInput, engine: PolicyEngine) => void;

/** Formats a denial tollgate makes itself (unreadable request) for the client; undefined keeps plain text. */
export type DenialFormatter = (d: { path: string; host: string | undefined; status: number; message: string }) => { body: string; headers: Pair[] } | undefined;

export interface CheckPipelineOptions {
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

/** What the record stage needs from a Check that reached a decision. */
interface Decided {
  ctx: CheckContext;
  /** Read from the policy's decision before the steps, which may replace it (a 429 keeps the tenant). */
  facts: DecisionFacts;
  decision: Decision;
  reason?: string;
  input: PolicyInput | undefined;
  result: unknown;
}

/**
 * One Check, as opa-envoy-plugin does it, in stages: CheckRequest → input → evaluate → decision
 * → post-decision steps (policy limits, the ext_proc reservation, secrets, dry run) → response;
 * then one record (decision line, metrics, decision log). Errors a client caused become denials;
 * errors tollgate or the policy caused become a gRPC error (Envoy then applies its
 * status_on_error), or a 403 when onDecisionError is "deny". The server's handler wrapper logs and
 * counts failed calls.
 */
export class CheckPipeline {
  private readonly o: CheckPipelineOptions;
  private readonly steps: readonly PostDecisionStep[];

  constructor(options: CheckPipelineOptions) {
    this.o = options;
    this.steps = [
      limitsStep({ store: options.store, logger: options.logger, headerNames: options.rateLimitHeaders ?? DEFAULT_HEADER_NAMES, usage: options.usage, metrics: options.metrics }),
      reservationStep(options.reservationKey),
      secretsStep(options.secrets),
      ...(options.dryRun ? [dryRunStep()] : []),
    ];
  }

  async check(req: CheckRequest): Promise<CheckResponse> {
    const started = performance.now();
    const decisionId = randomUUID();
    const http = req.attributes?.request?.http;
    const engine = this.o.policy();
    const event: DecisionEvent = {
      decision_id: decisionId, revision: engine?.revision, allowed: false, status: 0,
      method: http?.method, path: http?.path, latency_ms: 0, tenant: null,
    };
    try {
      if (!engine) throw new TollgateError("policy_not_loaded", "no policy revision is loaded yet");
      const decided = await this.decide(req, engine, decisionId);
      this.recordDecided(event, engine, decided, started);
      return toCheckResponse(decided.decision, { ...decided.decision.dynamicMetadata, ...decided.ctx.metadata, decision_id: decisionId });
    } catch (err) {
      const e = TollgateError.from(err);
      event.reason = e.code;
      if (this.o.onDecisionError === "deny" && e.code !== "policy_not_loaded") {
        event.status = 403;
        this.o.logger.warn({ event: "decision_error", decision_id: decisionId, code: e.code, error: e.message }, "decision error answered with a denial");
        return toCheckResponse(denial(403, ""), { decision_id: decisionId });
      }
      event.status = e.code;
      throw e;
    } finally {
      this.recordCheck(event, started);
    }
  }

  /** input → evaluate → decision → steps. */
  private async decide(req: CheckRequest, engine: PolicyEngine, decisionId: string): Promise<Decided> {
    const ownDenial = (status: number, message: string) => this.ownDenial(req, status, message);
    const read = this.readInput(req, engine);
    let ctx: CheckContext;
    let result: unknown;
    let facts = decisionFacts(undefined);
    if ("denial" in read) {
      ctx = { req, decisionId, input: undefined, decision: ownDenial(read.status, read.denial), reason: read.reason, metadata: {}, ownDenial };
    } else {
      result = this.evaluate(engine, read.input);
      const decision = readDecision(result);
      facts = decisionFacts(decision.dynamicMetadata);
      this.compareWithCandidate(read.input, decision, decisionId);
      if (!decision.allowed && decision.body === undefined && decision.message !== undefined) {
        const own = ownDenial(decision.httpStatus, decision.message);
        decision.body = own.body;
        decision.headers.push(...own.headers);
      }
      ctx = { req, decisionId, input: read.input, decision, metadata: {}, ownDenial };
      if (!decision.allowed) ctx.reason = reasonLabel(decision.dynamicMetadata?.["reason"]);
    }
    for (const step of this.steps) await step(ctx);
    return { ctx, facts, decision: ctx.decision, input: ctx.input, result, ...(ctx.reason !== undefined ? { reason: ctx.reason } : {}) };
  }

  /** Stage 1: the CheckRequest as opa-envoy-plugin's input, enriched (input.llm); a request tollgate cannot read is a denial. */
  private readInput(req: CheckRequest, engine: PolicyEngine): { input: PolicyInput } | { denial: string; status: number; reason: string } {
    let input: PolicyInput;
    try {
      input = buildInput(req, { skipBodyParse: this.o.skipBodyParse, limits: this.o.limits });
    } catch (err) {
      const e = TollgateError.from(err, "request_parse_error");
      return { denial: e.message, status: e instanceof InputTooLarge ? e.httpStatus : 400, reason: e.code };
    }
    for (const enrich of this.o.enrichers ?? []) enrich(input, engine);
    return { input };
  }

  /** Stage 2: the policy, synchronously (opa-wasm's evaluate blocks the event loop). */
  private evaluate(engine: PolicyEngine, input: PolicyInput): unknown {
    const started = performance.now();
    try {
      return engine.evaluate(input);
    } finally {
      this.o.metrics?.evalDuration.observe((performance.now() - started) / 1000);
    }
  }

  /** The decision line's outcome, the tenant metric, the logged input and the decision-log event. */
  private recordDecided(event: DecisionEvent, engine: PolicyEngine, d: Decided, started: number): void {
    const policyDecision = d.ctx.dryRunDenial ?? d.decision;
    event.allowed = policyDecision.allowed;
    event.status = policyDecision.allowed ? 200 : policyDecision.httpStatus;
    event.tenant = d.facts.tenant;
    if (d.reason) event.reason = d.reason;
    else if (policyDecision.allowed) event.reason = d.facts.allowReason;
    if (!policyDecision.allowed && d.facts.guardPatterns.length > 0) event.guard_patterns = d.facts.guardPatterns;
    if (d.ctx.dryRunDenial) event.dry_run = true;
    // The bounded tenant of the decision line: a policy may name it from client-sent text.
    if (d.facts.tenant !== null) this.o.metrics?.tenantCheck(d.facts.tenant, policyDecision.allowed ? "allow" : "deny");
    if (this.o.logDecisionInput) this.attachInput(event, engine, d.input, d.result);
    // OPA's decision-log events carry the decision's value, not the result set.
    const value = Array.isArray(d.result) ? (d.result[0] as { result?: unknown } | undefined)?.result : undefined;
    this.o.decisionLog?.({ decisionId: event.decision_id, revision: engine.revision, input: d.input, result: value, handlerNs: (performance.now() - started) * 1e6 });
  }

  /** Every Check, decided or failed: one decision line, one count by result and reason, its latency. */
  private recordCheck(event: DecisionEvent, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    event.latency_ms = Math.round(seconds * 1e6) / 1000;
    logDecision(this.o.logger, event);
    const result = typeof event.status === "string" ? "error" : event.allowed ? "allow" : "deny";
    this.o.metrics?.checks.inc({ result, reason: result === "allow" ? "" : reasonLabel(event.reason) });
    this.o.metrics?.checkDuration.observe(seconds);
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
    const failure = attachDecisionInput(event, { input, result }, { logBody: this.o.logDecisionBody, policyMask: engine.evaluateLogMask?.bind(engine), policyData: engine.data });
    // A broken or unsupported mask must not leak: the input is left out rather than logged unmasked.
    if (failure !== undefined) this.o.logger.warn({ event: "log_mask_error", error: failure }, "log mask failed; input omitted");
  }
}
