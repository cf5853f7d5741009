import { TollgateError } from "../errors.js";
import type { CheckRequest } from "../gen/envoy/service/auth/v3/external_auth.js";
import { DEFAULT_HEADER_NAMES, type HeaderNames } from "../limits/headers.js";
import { MAX_UNITS } from "../limits/keys.js";
import { encodeReservation, RESERVATION_METADATA_KEY } from "../limits/reservation.js";
import type { LimitStore } from "../limits/types.js";
import { isPlainObject } from "../json.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { bareDecision, type Decision } from "./decision.js";
import type { PolicyInput } from "./input.js";
import { applyPolicyLimits, type LimitVerdict } from "./limits.js";
import { denial } from "./response.js";
import type { SecretResolver } from "./secrets.js";
import type { UsageTracker } from "./usage.js";

/** One Check after the policy decided: what the steps read and may change. */
export interface CheckContext {
  readonly req: CheckRequest;
  readonly decisionId: string;
  /** Undefined when the request could not be read into an input (the decision is then tollgate's own denial). */
  readonly input: PolicyInput | undefined;
  /** The answer so far; a step may replace it (a 429) or add to it (headers). */
  decision: Decision;
  /** The deny reason the decision line and metrics carry. */
  reason?: string;
  /** Added to the response's dynamic_metadata. */
  readonly metadata: Record<string, unknown>;
  /** Set by the policy-limits step: what the store answered. */
  verdict?: LimitVerdict;
  /** Set by the dry-run step: the denial that was turned into an allow. */
  dryRunDenial?: Decision;
  /** A denial in the client's own error format (LLM provider JSON) when recognised, else plain text. */
  ownDenial(status: number, message: string): Decision;
}

/**
 * A small step after the decision. Steps run in order on every decided Check; each looks at the
 * decision so far and returns without change when it does not apply.
 */
export type PostDecisionStep = (ctx: CheckContext) => void | Promise<void>;

/** Policy-declared limits: counted in the store; over → 429, store down (failure_mode deny) → 503, shed → 503. */
export function limitsStep(o: { store: LimitStore | undefined; logger: Logger; headerNames: HeaderNames | false; usage?: UsageTracker | undefined; metrics?: Metrics | undefined }): PostDecisionStep {
  return async (ctx) => {
    const decision = ctx.decision;
    if (!decision.allowed || decision.limits.length === 0) return;
    if (!o.store) throw new TollgateError("config_error", "the policy declared limits but no limit store is configured");
    const verdict = await applyPolicyLimits({ store: o.store, limits: decision.limits, logger: o.logger, ...(o.headerNames ? { headerNames: o.headerNames } : {}) });
    ctx.verdict = verdict;
    ctx.metadata["limits"] = verdict.usage;
    const tenant = decision.dynamicMetadata?.["tenant"];
    if (typeof tenant === "string") o.usage?.record(tenant, decision.limits, verdict);
    const retryAfter = (o.headerNames || DEFAULT_HEADER_NAMES).retryAfter;
    const headers = o.headerNames === false ? verdict.headers.filter(([k]) => k === retryAfter) : verdict.headers;
    if (verdict.result === "over") o.metrics?.overLimit.inc({ domain: "policy" });
    if (verdict.result === "unavailable") o.metrics?.failureModeUsed.inc({ mode: "deny" });
    if (verdict.failedOpen) o.metrics?.failureModeUsed.inc({ mode: "allow" });
    if (verdict.result === "over") {
      const over = decision.limitedBody !== undefined ? denial(429, decision.limitedBody) : ctx.ownDenial(429, "rate limit exceeded");
      over.headers.push(...headers);
      ctx.decision = over;
      ctx.reason = "rate_limited";
    } else if (verdict.result === "unavailable") {
      ctx.decision = denial(503, "rate limit store unavailable", []);
      ctx.reason = "limit_store_unavailable";
    } else if (verdict.result === "shed") {
      const shed = ctx.ownDenial(503, "overloaded: try again shortly");
      shed.headers.push(...verdict.headers);
      ctx.decision = shed;
      ctx.reason = "overloaded";
    } else {
      decision.responseHeadersToAdd.push(...headers);
    }
  };
}

/**
 * ext_proc reconcile: for an admitted LLM call with limits marked reconcile: true,
 * dynamic_metadata gets the signed reservation the ext_proc server reconciles at the end of the
 * response, and the upstream is asked for an uncompressed response (accept-encoding: identity,
 * after any the policy set, so it wins) so the usage in it is read without decoding.
 */
export function reservationStep(key: Uint8Array | undefined): PostDecisionStep {
  return (ctx) => {
    const reserved = ctx.verdict?.reserved ?? [];
    const llm = ctx.input?.["llm"];
    if (!ctx.decision.allowed || reserved.length === 0 || key === undefined || !isPlainObject(llm)) return;
    const text = (v: unknown, max: number): string => (typeof v === "string" ? v.slice(0, max) : "");
    const tokens = llm["estimated_input_tokens"];
    ctx.metadata[RESERVATION_METADATA_KEY] = encodeReservation(
      {
        v: 1,
        decisionId: ctx.decisionId,
        provider: text(llm["provider"], 64),
        operation: text(llm["operation"], 64),
        model: text(llm["model"], 512),
        stream: llm["stream"] === true,
        estimatedInputTokens: typeof tokens === "number" && Number.isFinite(tokens) ? Math.min(MAX_UNITS, Math.max(0, Math.round(tokens))) : 0,
        issuedAtMs: Date.now(),
        counters: reserved,
      },
      key,
    );
    ctx.decision.headers.push(["accept-encoding", "identity"]);
  };
}

/** Upstream secrets the policy named (`${file:...}`), resolved into request headers. */
export function secretsStep(secrets: SecretResolver | undefined): PostDecisionStep {
  return (ctx) => {
    const decision = ctx.decision;
    if (!decision.allowed || decision.upstreamSecrets.length === 0) return;
    if (!secrets) throw new TollgateError("config_error", "the policy asked for upstream secrets but no secret resolver is configured");
    decision.headers.push(...secrets.resolve(decision.upstreamSecrets));
  };
}

/** Dry run: a denial is logged and counted as one, and answered as a bare allow. */
export function dryRunStep(): PostDecisionStep {
  return (ctx) => {
    if (ctx.decision.allowed) return;
    ctx.dryRunDenial = ctx.decision;
    ctx.decision = bareDecision(true);
  };
}
