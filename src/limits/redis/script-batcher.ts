import { TollgateError } from "../../errors.js";
import type { ScriptName } from "./redis-connection.js";

/** One script call; all its keys share one slot. */
export interface ScriptCall {
  script: ScriptName;
  keys: readonly string[];
  args: readonly string[];
}

/** Per call, in order: [error, reply], as ioredis pipelines answer. */
export type BatchReply = [Error | null, unknown][];

export interface ScriptBatcherOptions {
  /** Sends calls of one group as one pipeline; the write must happen before it returns. */
  send: (calls: readonly ScriptCall[]) => Promise<BatchReply>;
  /** The pipeline a call may share: its Redis node (one group on a single Redis). Asked at each write. */
  groupOf: (call: ScriptCall) => string;
  /** The store deadline, measured from the write of a call's pipeline to its reply. */
  deadlineMs: number;
  /** Calls sent and not yet answered, at most; the rest wait here, off the clock. */
  maxInFlight: number;
  /** Longest a call may wait here for room; past it the call is shed (code "overloaded"). */
  maxQueueMs: number;
}

interface Job extends ScriptCall {
  queuedAt: number;
  resolve: (reply: unknown) => void;
  reject: (err: TollgateError) => void;
}

function unavailable(message: string, cause?: unknown): TollgateError {
  return new TollgateError("limit_store_unavailable", `Redis limit store: ${message}`, cause === undefined ? undefined : { cause });
}

/**
 * Sends script calls to Redis in pipelines and keeps the store's deadline honest:
 *
 * - The deadline runs from the pipeline's write to its reply. Time a call spends waiting in this
 *   process (behind the event loop or behind other calls) is not Redis being slow; counting it made
 *   a burst expire calls whose scripts Redis ran in microseconds, and fail-open answered them.
 * - At most maxInFlight calls are at Redis at once, so one process cannot queue more work there
 *   than fits the deadline, and after a stall Redis has little stale work to get through.
 * - A call that finds no room within maxQueueMs is shed ("overloaded"): never sent, never counted,
 *   and the callers answer it with an explicit refusal, not with the limit's failure_mode.
 * - While a pipeline is unanswered for twice the deadline, Redis is stalled: new calls fail at once
 *   ("limit_store_unavailable", answered by failure_mode) instead of piling up behind it. The late
 *   pipeline is the probe: when its reply comes, calls flow again. (Not at once past the deadline:
 *   one reply a few ms late under a burst must not turn the calls after it into failure_mode answers.)
 */
export class ScriptBatcher {
  private readonly o: ScriptBatcherOptions;
  private readonly queue: Job[] = [];
  private inFlight = 0;
  private overdue = 0;
  private flushScheduled = false;

  constructor(options: ScriptBatcherOptions) {
    this.o = options;
  }

  /** True while a pipeline is unanswered for twice the deadline. */
  get stalled(): boolean {
    return this.overdue > 0;
  }

  run(call: ScriptCall): Promise<unknown> {
    if (this.stalled) return Promise.reject(unavailable(`no answer within ${this.o.deadlineMs} ms (Redis is not answering)`));
    return new Promise((resolve, reject) => {
      this.queue.push({ ...call, queuedAt: performance.now(), resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Fails every waiting call (the connection is going away). */
  failAll(err: TollgateError): void {
    for (const job of this.queue.splice(0)) job.reject(err);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Like ioredis's auto-pipelining: calls made by the I/O callbacks of this loop turn share a write.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.stalled) {
      this.failAll(unavailable(`no answer within ${this.o.deadlineMs} ms (Redis is not answering)`));
      return;
    }
    const room = this.o.maxInFlight - this.inFlight;
    if (room > 0 && this.queue.length > 0) {
      const jobs = this.queue.splice(0, room);
      const byNode = new Map<string, Job[]>();
      for (const job of jobs) {
        const node = this.o.groupOf(job);
        const group = byNode.get(node);
        if (group) group.push(job);
        else byNode.set(node, [job]);
      }
      for (const group of byNode.values()) this.sendBatch(group);
    }
    const now = performance.now();
    let kept = 0;
    for (const job of this.queue) {
      if (now - job.queuedAt > this.o.maxQueueMs) job.reject(new TollgateError("overloaded", `limit store: no room for this call within ${this.o.maxQueueMs} ms`));
      else this.queue[kept++] = job;
    }
    this.queue.length = kept;
  }

  private sendBatch(jobs: Job[]): void {
    this.inFlight += jobs.length;
    let late = false;
    let settled = false;
    let reply: Promise<BatchReply>;
    try {
      reply = this.o.send(jobs);
    } catch (err) {
      reply = Promise.reject(err);
    }
    let stalled = false;
    let stallTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      // Timers run before I/O in a loop turn: a reply already in the socket is read before this.
      setImmediate(() => {
        if (settled) return;
        late = true;
        const err = unavailable(`no answer within ${this.o.deadlineMs} ms`);
        for (const job of jobs) job.reject(err);
        stallTimer = setTimeout(() => {
          if (settled) return;
          stalled = true;
          this.overdue += 1;
          this.scheduleFlush();
        }, this.o.deadlineMs);
      });
    }, this.o.deadlineMs);
    reply
      .then(
        (replies) => {
          if (late) return;
          jobs.forEach((job, i) => {
            const [err, value] = replies[i] ?? [new Error("missing pipeline reply"), undefined];
            if (err) job.reject(unavailable(err.message, err));
            else job.resolve(value);
          });
        },
        (err: unknown) => {
          if (late) return;
          const e = unavailable(err instanceof Error ? err.message : String(err), err);
          for (const job of jobs) job.reject(e);
        },
      )
      .finally(() => {
        settled = true;
        clearTimeout(timer);
        clearTimeout(stallTimer);
        this.inFlight -= jobs.length;
        if (stalled) this.overdue -= 1;
        if (this.queue.length > 0) this.scheduleFlush();
      });
  }
}
