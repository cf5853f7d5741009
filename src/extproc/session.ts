import type { DecisionLogEvent } from "../decision-log/index.js";
import { TollgateError } from "../errors.js";
import type { HttpBody, HttpHeaders, ProcessingRequest, ProcessingResponse } from "../gen/envoy/service/ext_proc/v3/external_processor.js";
import { decodeReservation, RESERVATION_METADATA_KEY, type Reservation } from "../limits/reservation.js";
import type { Adjustment, AdjustOutcome, LimitStore, ReservedCounter } from "../limits/types.js";
import { createUsageReader, streamStopChunk, type UsageCount, type UsageReader } from "../llm/usage/index.js";
import { PROVIDER_IDS, type ProviderId } from "../llm/types.js";
import type { Logger } from "../observability/logger.js";
import { stopPoint } from "./boundary.js";
import { AUTHZ_NAMESPACE, answer, BODY_NOT_NEEDED, headerValue, messageKind, passThrough, USAGE_NAMESPACE } from "./messages.js";
import { providerLabel, type ExtProcMetrics } from "./metrics.js";
import { decisionTenant, usageLogEvent } from "./usage-log.js";

export interface SessionDeps {
  /** The HMAC key reservations are signed with (shared by every replica). */
  reservationKey: Uint8Array;
  store: Pick<LimitStore, "reconcile" | "peek">;
  logger: Logger;
  metrics: ExtProcMetrics;
  /** Receives each usage_reconciled line as a decision-log event (the uploaded decision logs), linked to Check's by decision_id. */
  decisionLog?: (event: DecisionLogEvent) => void;
  now?: () => number;
}

/** How a response ended, as the log line and tollgate_extproc_streams_total say it. */
export type Outcome = "completed" | "stopped" | "disconnected" | "upstream_error" | "refused" | "unreserved" | "empty";

/**
 * - awaiting_headers: nothing heard yet; the first message must be response_headers.
 * - counting: the body streams through; each chunk is counted and passed on.
 * - stopped: a budget was crossed; the crossing chunk was replaced by the provider's error event,
 *   every later chunk is cleared (and still counted: the provider bills it).
 * - ignoring: nothing to count (reservation refused, upstream error); messages pass unchanged.
 * - settled: the reservation was reconciled; later messages pass unchanged.
 */
type Settled = Exclude<Outcome, "refused" | "unreserved" | "empty">;

type State = "awaiting_headers" | "counting" | "stopped" | "ignoring" | "settled";

interface Budget {
  counter: ReservedCounter;
  /** Tokens this response may use: its own reservation plus what was left when it started. */
  tokens: number;
}

const KNOWN = new Set<string>(PROVIDER_IDS);

/** Tokens a response used: reported input (or Check's estimate when the provider has not said) plus output. */
export function actualTokens(usage: UsageCount, reservation: Reservation): number {
  const input = usage.inputTokens > 0 ? usage.inputTokens : reservation.estimatedInputTokens;
  return input + usage.outputTokens;
}

/**
 * One ext_proc stream, which is one HTTP response: reads the reservation Check made, counts the
 * response's tokens as it streams, stops it when it crosses a budget the policy marked stream_stop,
 * and reconciles every reserved counter to actual usage exactly once. Holds no state beyond this
 * stream; whatever replica Envoy picks can do it.
 */
export class StreamSession {
  private state: State = "awaiting_headers";
  private reservation: Reservation | undefined;
  private reader: UsageReader | undefined;
  private budgets: Budget[] = [];
  private stoppedBy: string | undefined;
  /** The decision's dynamic_metadata.tenant, for the usage line and the per-tenant metrics. */
  private tenant: string | undefined;
  private bytes = 0;
  /** How events are separated on the wire, when tollgate can stop this response cleanly (uncompressed SSE or NDJSON). */
  private framing: "sse" | "ndjson" | undefined;
  /** The last bytes passed to the client: a stop event is inserted only at an event boundary. */
  private tail: Buffer = Buffer.alloc(0);
  private chunks = 0;
  private unexpected = 0;
  private settling: Promise<void> | undefined;
  private readonly startedMs: number;
  private readonly now: () => number;

  constructor(private readonly deps: SessionDeps) {
    this.now = deps.now ?? Date.now;
    this.startedMs = this.now();
  }

  /** The answer to one message; synchronous for body chunks, a promise only for response headers that need a budget read. */
  handle(req: ProcessingRequest): ProcessingResponse | Promise<ProcessingResponse> {
    if (req.responseHeaders) return this.onHeaders(req, req.responseHeaders);
    if (req.responseBody) return this.onBody(req.responseBody);
    if (req.responseTrailers) return this.onTrailers(req);
    this.unexpected += 1;
    if (this.unexpected === 1) this.deps.logger.warn({ event: "extproc_unexpected_message", kind: messageKind(req) }, "ext_proc message tollgate does not process; check processing_mode in envoy.yaml");
    return passThrough(req);
  }

  /** The gRPC stream ended (Envoy closed it, or it broke): reconcile what was counted if the body never ended. */
  finish(): Promise<void> {
    if (this.settling) return this.settling;
    if (this.state === "counting" || this.state === "stopped") return this.settle("disconnected");
    if (this.state === "awaiting_headers") this.deps.metrics.streams.inc({ outcome: "empty" });
    this.state = "settled";
    return Promise.resolve();
  }

  private onHeaders(req: ProcessingRequest, headers: HttpHeaders): ProcessingResponse | Promise<ProcessingResponse> {
    if (this.state !== "awaiting_headers") return passThrough(req);
    const reservation = this.readReservation(req);
    if (reservation === undefined) {
      this.state = "ignoring";
      return answer({ responseHeaders: { response: undefined } }, { modeOverride: BODY_NOT_NEEDED });
    }
    this.reservation = reservation;
    this.tenant = decisionTenant(req);
    const status = Number(headerValue(headers.headers, ":status"));
    if (!(status >= 200 && status < 400)) {
      // The provider refused or failed (or Envoy answered itself, e.g. 429 from the rate limit filter): nothing was used.
      void this.settle("upstream_error");
      return answer({ responseHeaders: { response: undefined } }, { modeOverride: BODY_NOT_NEEDED });
    }
    try {
      this.reader = createUsageReader({
        provider: reservation.provider as ProviderId,
        operation: reservation.operation,
        stream: reservation.stream,
        ...optional("contentType", headerValue(headers.headers, "content-type")),
        ...optional("contentEncoding", headerValue(headers.headers, "content-encoding")),
      });
    } catch (err) {
      this.refuse("invalid", TollgateError.from(err).message, reservation.decisionId);
      this.state = "ignoring";
      return answer({ responseHeaders: { response: undefined } }, { modeOverride: BODY_NOT_NEEDED });
    }
    this.state = "counting";
    const type = (headerValue(headers.headers, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    const encoding = (headerValue(headers.headers, "content-encoding") ?? "identity").trim().toLowerCase();
    // A plain JSON body or a compressed one cannot take an inserted event: such responses are reconciled, never stopped.
    if (encoding === "identity") this.framing = type === "text/event-stream" ? "sse" : type === "application/x-ndjson" || type === "application/ndjson" ? "ndjson" : undefined;
    if (headers.endOfStream) {
      void this.settle("completed");
      return answer({ responseHeaders: { response: undefined } });
    }
    const stoppable = reservation.counters.filter((c) => c.streamStop);
    if (stoppable.length === 0) return answer({ responseHeaders: { response: undefined } });
    return this.readBudgets(stoppable).then(() => answer({ responseHeaders: { response: undefined } }));
  }

  private onBody(body: HttpBody): ProcessingResponse {
    if (this.state !== "counting" && this.state !== "stopped") return answer({ responseBody: { response: undefined } });
    this.bytes += body.body.length;
    this.chunks += 1;
    this.reader!.push(body.body);
    let reply: ProcessingResponse;
    if (this.state === "stopped") {
      reply = bodyReply({ clearBody: true });
    } else {
      const crossed = this.crossedBudget();
      const cut = crossed ? this.boundaryIn(body.body) : undefined;
      if (crossed && cut !== undefined) {
        this.state = "stopped";
        this.stoppedBy = crossed.counter.name;
        this.deps.metrics.streamsStopped.inc({ provider: providerLabel(this.reservation!.provider) });
        const message = `token budget "${crossed.counter.name}" exhausted (${crossed.counter.limit} per ${crossed.counter.windowSeconds} s); response stopped by tollgate`;
        const stop = streamStopChunk({ provider: this.reservation!.provider as ProviderId, operation: this.reservation!.operation, message });
        // What completes the event the client already has part of, then the provider's error event.
        reply = bodyReply({ body: Buffer.concat([body.body.subarray(0, cut), stop]) });
      } else {
        // Over budget but mid-event: pass this chunk; the stop comes at the first event boundary.
        this.tail = lastBytes(this.tail, body.body);
        reply = bodyReply(undefined);
      }
    }
    if (body.endOfStream) this.endBody(reply);
    return reply;
  }

  /** Trailers follow the last body chunk (which then had end_of_stream false): the body is over. */
  private onTrailers(req: ProcessingRequest): ProcessingResponse {
    const reply = passThrough(req);
    if (this.state === "counting" || this.state === "stopped") this.endBody(reply);
    return reply;
  }

  private endBody(reply: ProcessingResponse): void {
    const reservation = this.reservation!;
    const usage = this.reader!.current();
    // For the access log (%DYNAMIC_METADATA(tollgate.usage:actual_tokens)%); the reconcile follows.
    reply.dynamicMetadata = {
      [USAGE_NAMESPACE]: {
        decision_id: reservation.decisionId,
        actual_tokens: actualTokens(usage, reservation),
        usage_source: usage.source,
        ...(this.stoppedBy ? { stopped_by: this.stoppedBy } : {}),
      },
    };
    void this.settle(this.state === "stopped" ? "stopped" : "completed");
  }

  /**
   * Check's metadata always carries decision_id; it carries a reservation only when the policy
   * marked limits reconcile: true. No namespace or no decision_id: Envoy did not forward what Check
   * wrote (or Check never ran) - refused. A decision without a reservation: nothing to reconcile.
   */
  private readReservation(req: ProcessingRequest): Reservation | undefined {
    const authz: Record<string, unknown> | undefined = req.metadataContext?.filterMetadata[AUTHZ_NAMESPACE];
    const value = authz?.[RESERVATION_METADATA_KEY];
    if (value === undefined && typeof authz?.["decision_id"] === "string") {
      this.deps.metrics.streams.inc({ outcome: "unreserved" });
      return undefined;
    }
    try {
      const reservation = decodeReservation(value, this.deps.reservationKey, this.now());
      if (!KNOWN.has(reservation.provider)) throw new TollgateError("reservation_invalid", `reservation: unknown provider ${JSON.stringify(reservation.provider)}`);
      return reservation;
    } catch (err) {
      this.refuse(value === undefined ? "missing" : "invalid", TollgateError.from(err).message, undefined);
      return undefined;
    }
  }

  private refuse(reason: "missing" | "invalid", message: string, decisionId: string | undefined): void {
    this.deps.metrics.reservationsRefused.inc({ reason });
    this.deps.metrics.streams.inc({ outcome: "refused" });
    this.deps.logger.warn({ event: "reservation_refused", reason, error: message, ...(decisionId ? { decision_id: decisionId } : {}) }, "ext_proc: reservation refused; nothing reconciled");
  }

  /** Reads what is left on each stream_stop counter; without it (store down) this response is not stopped mid-stream. */
  private async readBudgets(counters: ReservedCounter[]): Promise<void> {
    try {
      const remaining = await this.deps.store.peek(counters);
      this.budgets = counters.map((counter, i) => ({ counter, tokens: counter.reserved + (remaining[i] ?? 0) }));
    } catch (err) {
      this.deps.metrics.reconcileFailures.inc({ reason: "budget_unknown" });
      this.deps.logger.warn({ event: "stream_budget_unknown", decision_id: this.reservation?.decisionId, error: TollgateError.from(err).message }, "ext_proc: cannot read the token budget; this response will not be stopped mid-stream");
    }
  }

  /** Bytes of this chunk to pass before a stop event (see stopPoint); undefined when the framing takes no inserted event. */
  private boundaryIn(chunk: Buffer): number | undefined {
    return this.framing === undefined ? undefined : stopPoint(this.framing, this.tail, chunk);
  }

  private crossedBudget(): Budget | undefined {
    if (this.budgets.length === 0) return undefined;
    const used = actualTokens(this.reader!.current(), this.reservation!);
    return this.budgets.find((b) => used > b.tokens);
  }

  private settle(outcome: Settled): Promise<void> {
    this.settling ??= this.reconcile(outcome);
    return this.settling;
  }

  private async reconcile(outcome: Settled): Promise<void> {
    const reservation = this.reservation!;
    const usage: UsageCount | undefined = outcome === "upstream_error" || !this.reader ? undefined : await this.reader.end({ cut: outcome === "disconnected" });
    this.state = "settled";
    const actual = usage ? actualTokens(usage, reservation) : 0;
    const adjustments = reservation.counters.map((counter) => ({ counter, delta: actual - counter.reserved }));
    let outcomes: AdjustOutcome[] | undefined;
    let error: string | undefined;
    if (adjustments.length > 0) {
      try {
        outcomes = await this.reconcileOnce(adjustments, reservation.decisionId);
      } catch (err) {
        error = TollgateError.from(err).message;
      }
    }
    this.record(outcome, reservation, usage, actual, adjustments.map((a) => a.delta), outcomes, error);
  }

  /**
   * One store round trip, and a second one if the first failed in a way that may not have reached
   * Redis, or may have (a timeout): the decision_id marks the reconcile so it applies at most once.
   */
  private async reconcileOnce(adjustments: Adjustment[], decisionId: string): Promise<AdjustOutcome[]> {
    // Check's decision ids are UUIDs; anything else (signed, so only an old or foreign Check) is reconciled without a retry.
    if (!/^[^{}]{1,128}$/.test(decisionId)) return this.deps.store.reconcile(adjustments);
    try {
      return await this.deps.store.reconcile(adjustments, { once: decisionId });
    } catch (err) {
      const code = TollgateError.from(err).code;
      if (code !== "limit_store_unavailable" && code !== "overloaded") throw err;
      return await this.deps.store.reconcile(adjustments, { once: decisionId });
    }
  }

  private record(outcome: Outcome, r: Reservation, usage: UsageCount | undefined, actual: number, deltas: number[], outcomes: AdjustOutcome[] | undefined, error: string | undefined): void {
    const reserved = Math.max(0, ...r.counters.map((c) => c.reserved));
    this.deps.metrics.reconciled({
      provider: r.provider,
      tenant: this.tenant,
      outcome,
      reserved,
      hasCounters: r.counters.length > 0,
      actual,
      source: usage?.source,
      applied: outcomes?.some((o) => o.applied) ?? false,
      failures: [...(error !== undefined ? ["store_unavailable"] : []), ...(outcomes ?? []).filter((o) => !o.applied).map((o) => o.reason ?? "not_applied")],
      malformed: this.reader?.malformed ?? 0,
    });
    const line = {
      event: "usage_reconciled",
      decision_id: r.decisionId,
      ...(this.tenant !== undefined ? { tenant: this.tenant } : {}),
      outcome,
      provider: r.provider,
      operation: r.operation,
      model: r.model,
      stream: r.stream,
      reserved_tokens: reserved,
      actual_tokens: actual,
      ...(usage
        ? { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens, cache_read_tokens: usage.cacheReadTokens, cache_write_tokens: usage.cacheWriteTokens, usage_source: usage.source }
        : {}),
      ...(this.stoppedBy ? { stopped_by: this.stoppedBy } : {}),
      counters: r.counters.map((c, i) => ({
        name: c.name,
        reserved: c.reserved,
        delta: deltas[i],
        ...(outcomes?.[i] ? { applied: outcomes[i].applied, remaining: outcomes[i].remaining, ...(outcomes[i].reason ? { reason: outcomes[i].reason } : {}) } : {}),
      })),
      body_bytes: this.bytes,
      body_chunks: this.chunks,
      malformed_events: this.reader?.malformed ?? 0,
      duration_ms: this.now() - this.startedMs,
      ...(error !== undefined ? { error } : {}),
    };
    if (error !== undefined) this.deps.logger.error(line, "usage not reconciled: the reservation stands");
    else this.deps.logger.info(line, "usage reconciled");
    this.deps.decisionLog?.(usageLogEvent(line));
  }
}

function bodyReply(mutation: { body: Buffer } | { clearBody: true } | undefined): ProcessingResponse {
  return answer({ responseBody: { response: mutation ? { status: 0, headerMutation: undefined, bodyMutation: mutation, trailers: undefined, clearRouteCache: false } : undefined } });
}

/**
 * The last 4 bytes passed, copied: a view into the chunk would keep the whole gRPC message alive,
 * and concatenating first would copy every chunk once more.
 */
function lastBytes(tail: Buffer, chunk: Buffer): Buffer {
  if (chunk.length >= 4) return Buffer.from(chunk.subarray(chunk.length - 4));
  return Buffer.from(Buffer.concat([tail, chunk]).subarray(-4));
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
