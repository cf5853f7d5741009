import http from "node:http";
import https from "node:https";
import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import { TollgateError } from "../errors.js";
import { maskDecisionCopy, registerSecret } from "../observability/mask.js";
import { backoffDelay } from "./backoff.js";
import { EventBuffer, type EncodedEvent } from "./buffer.js";
import type { DecisionLogEvent } from "./event.js";
import { dropRequested } from "../observability/mask-rules.js";
import { resolveSinkOptions, type DecisionLogSinkOptions, type ResolvedSinkOptions } from "./options.js";
import { post } from "./upload.js";
import { isPlainObject } from "../json.js";

const gzip = promisify(gzipCb);

type Obj = Record<string, unknown>;

/** What enqueue did with an event. Only "queued" events can reach the server. */
export type EnqueueResult = "queued" | "dropped_by_policy" | "too_large" | "error" | "closed";

export interface DecisionLogStats {
  /** Events accepted into the buffer. */
  enqueued: number;
  /** Events in batches the server answered 2xx. */
  sent: number;
  batchesSent: number;
  buffered: number;
  bufferedBytes: number;
  /** Events in the upload under way. */
  inFlight: number;
  uploadFailures: number;
  /** Events data.system.log.drop asked to drop (intended, not a loss). */
  droppedByPolicy: number;
  /** Events lost, by cause. bufferFull: oldest evicted over the bounds; tooLarge: one event over maxEventBytes;
   *  error: bad event, or mask/drop policy failure; rejected: a non-retryable 4xx; closed: still undelivered at close. */
  dropped: { bufferFull: number; tooLarge: number; error: number; rejected: number; closed: number; total: number };
  lastError: string | undefined;
  lastSuccessAt: string | undefined;
}

type Outcome = "ok" | "retry" | "rejected" | "empty";
type DropKind = "bufferFull" | "tooLarge" | "error" | "rejected" | "closed";

const WARN_EVERY_MS = 10_000;

function sleep(ms: number): { done: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { done, cancel: () => clearTimeout(timer) };
}


/**
 * Buffers decision-log events and uploads them as OPA's decision_logs plugin does: gzip'd JSON
 * arrays POSTed to `<url>/logs`. Memory is bounded (oldest dropped first, every drop counted),
 * failed uploads retry with exponential backoff and jitter, every request has a timeout, and
 * close() flushes what is left within closeTimeoutMs.
 */
export class DecisionLogSink {
  private readonly o: ResolvedSinkOptions;
  private readonly buffer: EventBuffer;
  private readonly agent: http.Agent;
  private readonly counts = { enqueued: 0, sent: 0, batchesSent: 0, uploadFailures: 0, droppedByPolicy: 0 };
  private readonly dropped: Record<DropKind, number> = { bufferFull: 0, tooLarge: 0, error: 0, rejected: 0, closed: 0 };
  private lastError: string | undefined;
  private lastSuccessAt: string | undefined;
  private attempt = 0;
  private retryAt = 0;
  private inFlight: Promise<Outcome> | undefined;
  private inFlightCount = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private abandoned = false;
  private closing: Promise<void> | undefined;
  private readonly lastWarn = new Map<string, number>();

  constructor(options: DecisionLogSinkOptions) {
    this.o = resolveSinkOptions(options);
    if (options.bearerToken) registerSecret(options.bearerToken);
    this.buffer = new EventBuffer({ maxEvents: this.o.maxBufferedEvents, maxBytes: this.o.maxBufferedBytes });
    const agentOptions = { keepAlive: true, maxSockets: 1 };
    this.agent = this.o.endpoint.protocol === "https:" ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** Drop policy, then the masking step (mask policy and tollgate's own rules), then buffering. Never throws: problems are counted. */
  enqueue(event: DecisionLogEvent): EnqueueResult {
    if (this.closed) return this.lose("closed", 1);
    const prepared = this.prepare(event);
    if (typeof prepared === "string") return prepared;
    const { json, bytes } = prepared;
    if (bytes > this.o.maxEventBytes) {
      this.warn("too_large", `decision log event of ${bytes} bytes is over maxEventBytes ${this.o.maxEventBytes}; dropped`);
      return this.lose("tooLarge", 1);
    }
    this.counts.enqueued++;
    this.evicted(this.buffer.push({ json, bytes }));
    this.schedule();
    return "queued";
  }

  /**
   * The exact JSON enqueue would upload for this event, without queueing or counting it; a string
   * when it would not be uploaded. The masking self-test reads the output of the running sink here.
   */
  preview(event: DecisionLogEvent): { json: string } | "dropped_by_policy" | "error" {
    const prepared = this.prepare(event, true);
    return typeof prepared === "string" ? (prepared === "dropped_by_policy" ? prepared : "error") : { json: prepared.json };
  }

  private prepare(event: DecisionLogEvent, dryRun = false): { json: string; bytes: number } | EnqueueResult {
    let doc: Obj;
    try {
      if (!isPlainObject(event) || typeof event.decision_id !== "string" || event.decision_id === "") throw new Error("event needs a non-empty decision_id");
      doc = JSON.parse(JSON.stringify(event)) as Obj;
    } catch (err) {
      if (dryRun) return "error";
      this.warn("invalid_event", `decision log event dropped: ${(err as Error).message}`);
      return this.lose("error", 1);
    }
    doc["labels"] = { ...this.o.labels, ...(isPlainObject(doc["labels"]) ? doc["labels"] : {}) };
    if (typeof doc["timestamp"] !== "string") doc["timestamp"] = new Date().toISOString();

    const masked = this.applyPolicies(doc, dryRun);
    if (typeof masked === "string") return masked;
    const json = JSON.stringify(masked);
    return { json, bytes: Buffer.byteLength(json) };
  }

  stats(): DecisionLogStats {
    const d = this.dropped;
    return {
      ...this.counts,
      buffered: this.buffer.count,
      bufferedBytes: this.buffer.bytes,
      inFlight: this.inFlightCount,
      dropped: { ...d, total: d.bufferFull + d.tooLarge + d.error + d.rejected + d.closed },
      lastError: this.lastError,
      lastSuccessAt: this.lastSuccessAt,
    };
  }

  /** Stops accepting events and keeps uploading (with retries) until the buffer is empty or closeTimeoutMs passes. */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  /** data.system.log.drop, then the masking step (data.system.log.mask first), as OPA orders them. Returns a result when the event is not to be queued. */
  private applyPolicies(doc: Obj, dryRun: boolean): Obj | EnqueueResult {
    if (this.o.drop) {
      const { metrics: _metrics, ...view } = doc; // OPA decides on dropping before it attaches metrics
      try {
        if (dropRequested(this.o.drop(view))) {
          if (!dryRun) this.counts.droppedByPolicy++;
          return "dropped_by_policy";
        }
      } catch (err) {
        if (dryRun) return "error";
        this.warn("drop_error", `data.system.log.drop failed; event dropped: ${TollgateError.from(err).message}`);
        return this.lose("error", 1);
      }
    }
    const copy = maskDecisionCopy(doc, { logBody: this.o.logBody, policyMask: this.o.mask, policyData: this.o.policyData() });
    if (!copy.ok) {
      if (dryRun) return "error";
      // An event the mask policy could not mask must not leave unmasked.
      this.warn("mask_error", `data.system.log.mask: ${copy.reason}; event dropped`);
      return this.lose("error", 1);
    }
    const out = copy.doc;
    if (copy.erased.length > 0) out["erased"] = [...(Array.isArray(out["erased"]) ? out["erased"] : []), ...copy.erased];
    if (copy.masked.length > 0) out["masked"] = [...(Array.isArray(out["masked"]) ? out["masked"] : []), ...copy.masked];
    return out;
  }

  private lose(kind: DropKind, n: number): EnqueueResult {
    this.dropped[kind] += n;
    return kind === "tooLarge" ? "too_large" : kind === "closed" ? "closed" : "error";
  }

  private evicted(n: number): void {
    if (n === 0) return;
    this.dropped.bufferFull += n;
    this.warn("buffer_full", `decision log buffer full; dropped the ${n} oldest event(s) (${this.dropped.bufferFull} so far)`);
  }

  private warn(kind: string, msg: string): void {
    const now = Date.now();
    if (now - (this.lastWarn.get(kind) ?? -Infinity) < WARN_EVERY_MS) return;
    this.lastWarn.set(kind, now);
    this.o.logger?.warn({ event: "decision_log_sink", kind, stats: this.stats() }, msg);
  }

  private batchDue(): boolean {
    return this.buffer.count >= this.o.batchMaxEvents || this.buffer.bytes + this.buffer.count + 1 >= this.o.batchMaxBytes;
  }

  private schedule(): void {
    if (this.closed || this.inFlight || this.backoffTimer || this.buffer.count === 0) return;
    if (this.batchDue()) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      void this.drive();
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.drive();
      }, this.o.flushIntervalMs).unref();
    }
  }

  private async drive(): Promise<void> {
    if (this.closed || this.inFlight) return;
    const outcome = await this.uploadOnce(this.o.requestTimeoutMs);
    if (this.closed) return;
    if (outcome === "retry") {
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined;
        void this.drive();
      }, Math.max(0, this.retryAt - Date.now())).unref();
    } else this.schedule();
  }

  /** Sends the oldest batch. Runs synchronously up to the first await, so the batch is taken at once. */
  private async uploadOnce(timeoutMs: number): Promise<Outcome> {
    const batch = this.buffer.take(this.o.batchMaxEvents, this.o.batchMaxBytes);
    if (batch.length === 0) return "empty";
    this.inFlightCount = batch.length;
    this.inFlight = this.send(batch, timeoutMs);
    try {
      return await this.inFlight;
    } finally {
      this.inFlight = undefined;
      this.inFlightCount = 0;
    }
  }

  private async send(batch: EncodedEvent[], timeoutMs: number): Promise<Outcome> {
    let result;
    try {
      const body = await gzip(Buffer.from(`[${batch.map((e) => e.json).join(",")}]`, "utf8"));
      result = await post({ url: this.o.endpoint, headers: this.o.headers, body, timeoutMs, agent: this.agent, tls: this.o.tls });
    } catch (err) {
      result = { ok: false as const, retry: false, error: TollgateError.from(err).message };
    }
    if (result.ok) {
      this.counts.sent += batch.length;
      this.counts.batchesSent++;
      this.attempt = 0;
      this.lastSuccessAt = new Date().toISOString();
      return "ok";
    }
    this.counts.uploadFailures++;
    this.lastError = result.error;
    if (result.retry && !this.abandoned) {
      this.attempt++;
      this.retryAt = Date.now() + backoffDelay({ attempt: this.attempt, baseMs: this.o.retryBaseMs, maxMs: this.o.retryMaxMs, random: this.o.random });
      this.evicted(this.buffer.requeue(batch));
      this.warn("upload_failed", `decision log upload failed (${result.error}); retry ${this.attempt} in ${this.retryAt - Date.now()} ms`);
      return "retry";
    }
    this.dropped[this.abandoned ? "closed" : "rejected"] += batch.length;
    this.warn("upload_rejected", `decision log upload of ${batch.length} event(s) failed for good (${result.error}); dropped`);
    return "rejected";
  }

  private async drain(): Promise<void> {
    this.closed = true;
    clearTimeout(this.flushTimer);
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    const deadline = Date.now() + this.o.closeTimeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      if (this.inFlight) {
        const pause = sleep(remaining);
        await Promise.race([this.inFlight, pause.done]);
        pause.cancel();
        continue;
      }
      if (this.buffer.count === 0) break;
      const wait = this.retryAt - Date.now();
      if (wait > 0) {
        await sleep(Math.min(wait, remaining)).done;
        continue;
      }
      await this.uploadOnce(Math.min(this.o.requestTimeoutMs, remaining));
    }
    // Out of time: an upload still under way is cut off and counted by send().
    this.abandoned = true;
    this.agent.destroy();
    if (this.inFlight) await this.inFlight;
    this.dropped.closed += this.buffer.clear();
  }
}
