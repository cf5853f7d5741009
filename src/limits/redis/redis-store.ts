import type { Logger } from "pino";
import { TollgateError } from "../../errors.js";
import { checkedNow, keysForApply, reconcileKeys, validateAdjustments, validateApply, type CounterKeys } from "../keys.js";
import {
  systemClock,
  type AdjustOutcome,
  type Adjustment,
  type ApplyOptions,
  type Clock,
  type LimitOutcome,
  type LimitRequest,
  type LimitStore,
  type ReconcileOptions,
  type ReservedCounter,
  RECONCILE_ONCE_TTL_MS,
} from "../types.js";
import { RedisConnection } from "./redis-connection.js";
import { ScriptBatcher, type ScriptCall } from "./script-batcher.js";
import { parseRedisUrl, redact, type RedisNode } from "./redis-url.js";

export const DEFAULT_COMMAND_TIMEOUT_MS = 50;
export const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
export const DEFAULT_KEY_PREFIX = "tollgate:";
export const DEFAULT_MAX_IN_FLIGHT = 64;

export interface RedisLimitStoreOptions {
  /** redis://, rediss://, redis+cluster://h1:p1,h2:p2 or rediss+cluster://… (see parseRedisUrl). */
  url: string;
  /** Longest Redis may take to answer a call, from the write to the reply; default 50. */
  commandTimeoutMs?: number;
  /** Calls at Redis at once from this process, at most; default 64. */
  maxInFlight?: number;
  /** Longest a call may wait for room before it is shed (code "overloaded"); default 10 × commandTimeoutMs. */
  maxQueueMs?: number;
  /** TCP/TLS connect timeout per attempt; default 1000. */
  connectTimeoutMs?: number;
  /** Prepended to every key; default "tollgate:". May not contain '{' or '}'. */
  keyPrefix?: string;
  clock?: Clock;
  logger?: Logger;
  /** true: the URL's hosts are cluster seeds; a node list: use these seeds instead of the URL's hosts. */
  cluster?: boolean | readonly RedisNode[];
}

export interface RedisLimitStore extends LimitStore {
  readonly kind: "redis" | "redis-cluster";
  /** Whether the client is connected right now (for health checks). */
  readonly ready: boolean;
  /** Resolves once connected; rejects with limit_store_unavailable after timeoutMs. */
  waitUntilReady(timeoutMs: number): Promise<void>;
}

/**
 * A LimitStore on Redis or Redis Cluster. On a single Redis each apply() is one EVALSHA of lua.ts,
 * atomic over all its limits. On a cluster it is one EVALSHA per hash tag (a script's keys must
 * share a slot), atomic per tag, the scripts of one node pipelined together. Failures are bounded: Redis gets
 * commandTimeoutMs from write to reply (see ScriptBatcher), and any failure rejects with
 * TollgateError("limit_store_unavailable"); a call shed for want of room rejects with "overloaded".
 * Throws TollgateError("config_error") synchronously for bad options; connects in the background.
 */
export function createRedisLimitStore(options: RedisLimitStoreOptions): RedisLimitStore {
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  checkMs("commandTimeoutMs", commandTimeoutMs);
  checkMs("connectTimeoutMs", connectTimeoutMs);
  if (typeof keyPrefix !== "string" || /[{}]/.test(keyPrefix)) {
    throw new TollgateError("config_error", "Redis limit store: keyPrefix must be a string without '{' or '}'");
  }
  const target = parseRedisUrl(options.url, options.cluster ?? false);
  const connection = new RedisConnection({
    target,
    commandTimeoutMs,
    connectTimeoutMs,
    label: redact(options.url),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const batcher = new ScriptBatcher({
    send: (calls) => connection.sendScripts(calls),
    groupOf: (call) => connection.nodeOf(call.keys[0] ?? ""),
    deadlineMs: commandTimeoutMs,
    maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    maxQueueMs: options.maxQueueMs ?? commandTimeoutMs * 10,
  });
  return new RedisStore({
    kind: target.cluster ? "redis-cluster" : "redis",
    connection,
    batcher,
    commandTimeoutMs,
    keyPrefix,
    clock: options.clock ?? systemClock,
  });
}

function checkMs(name: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 60_000) {
    throw new TollgateError("config_error", `Redis limit store: ${name} must be an integer in 1..60000, got ${String(value)}`);
  }
}

function unavailable(message: string, cause?: unknown): TollgateError {
  return new TollgateError("limit_store_unavailable", `Redis limit store: ${message}`, cause === undefined ? undefined : { cause });
}

class RedisStore implements RedisLimitStore {
  readonly kind: "redis" | "redis-cluster";
  private readonly connection: RedisConnection;
  private readonly batcher: ScriptBatcher;
  private readonly commandTimeoutMs: number;
  private readonly keyPrefix: string;
  private readonly clock: Clock;
  private closed = false;

  constructor(p: { kind: "redis" | "redis-cluster"; connection: RedisConnection; batcher: ScriptBatcher; commandTimeoutMs: number; keyPrefix: string; clock: Clock }) {
    this.kind = p.kind;
    this.connection = p.connection;
    this.batcher = p.batcher;
    this.commandTimeoutMs = p.commandTimeoutMs;
    this.keyPrefix = p.keyPrefix;
    this.clock = p.clock;
  }

  get ready(): boolean {
    return !this.closed && this.connection.isReady;
  }

  async waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.closed) throw unavailable("store is closed");
    if (!(await this.connection.waitForReady(timeoutMs))) throw unavailable(`not connected after ${timeoutMs} ms`);
  }

  async apply(requests: readonly LimitRequest[], options: ApplyOptions): Promise<LimitOutcome[]> {
    validateApply(requests, options);
    if (this.closed) throw unavailable("store is closed");
    if (requests.length === 0) return [];
    const nowMs = checkedNow(options.nowMs ?? this.clock.nowMs());
    const counterKeys = keysForApply({ prefix: this.keyPrefix, hashTag: options.hashTag, requests, nowMs });
    const stop = options.stopIncrementWhenOver === true;
    if (!this.connection.cluster) return parseReply(await this.runWithinDeadline(scriptCall({ requests, counterKeys, nowMs, stop })), requests.length);
    const groups = byTag(requests, options.hashTag);
    if (groups.length === 1) return parseReply(await this.runWithinDeadline(scriptCall({ requests, counterKeys, nowMs, stop })), requests.length);
    const replies = await Promise.all(groups.map((indexes) => this.runWithinDeadline(scriptCall({ requests, counterKeys, nowMs, stop, indexes }))));
    const outcomes: LimitOutcome[] = new Array<LimitOutcome>(requests.length);
    groups.forEach((group, g) => {
      const parsed = parseReply(replies[g], group.length);
      group.forEach((index, i) => (outcomes[index] = parsed[i]!));
    });
    return outcomes;
  }

  async reconcile(adjustments: readonly Adjustment[], options: ReconcileOptions = {}): Promise<AdjustOutcome[]> {
    validateAdjustments(adjustments, options);
    if (this.closed) throw unavailable("store is closed");
    if (adjustments.length === 0) return [];
    const nowMs = checkedNow(this.clock.nowMs());
    // One script per hash tag (one slot), pipelined per node; a reservation's counters share one tag.
    const groups = new Map<string, number[]>();
    adjustments.forEach((a, i) => {
      const group = groups.get(a.counter.hashTag);
      if (group) group.push(i);
      else groups.set(a.counter.hashTag, [i]);
    });
    const outcomes: AdjustOutcome[] = new Array<AdjustOutcome>(adjustments.length);
    await Promise.all(
      [...groups.values()].map(async (indexes) => {
        const keys: string[] = [];
        const args = [String(nowMs), options.once === undefined ? "0" : String(RECONCILE_ONCE_TTL_MS)];
        for (const i of indexes) {
          const { counter, delta } = adjustments[i]!;
          const k = reconcileKeys({ prefix: this.keyPrefix, counter, nowMs });
          keys.push(k.target, k.current, k.previous);
          args.push(counter.algorithm, String(counter.limit), String(counter.windowSeconds), String(delta), k.live ? "1" : "0", String(k.targetEndMs));
        }
        // The marker shares the group's hash tag, so one script (one slot) reads and writes it.
        if (options.once !== undefined) keys.push(`${this.keyPrefix}{${adjustments[indexes[0]!]!.counter.hashTag}}:reconciled:${options.once}`);
        const reply = await this.runWithinDeadline({ script: "reconcile", keys, args });
        parseReconcileReply(reply, indexes.length).forEach((o, j) => (outcomes[indexes[j]!] = o));
      }),
    );
    return outcomes;
  }

  async peek(counters: readonly ReservedCounter[]): Promise<number[]> {
    const outcomes = await this.reconcile(counters.map((counter) => ({ counter, delta: 0 })));
    return outcomes.map((o) => o.remaining);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.batcher.failAll(unavailable("store is closed"));
    await this.connection.close();
  }

  private async runWithinDeadline(call: ScriptCall): Promise<unknown> {
    if (!this.connection.isReady) {
      // Only while first connecting is it worth waiting; after a drop, fail at once rather than
      // adding the timeout to every request of an outage.
      const connected = this.connection.starting && (await this.connection.waitForReady(this.commandTimeoutMs));
      if (!connected) throw unavailable("not connected to Redis");
    }
    return this.batcher.run(call);
  }
}

/** Indexes of the requests of each hash tag, in order of first appearance. */
function byTag(requests: readonly LimitRequest[], defaultTag: string): number[][] {
  const groups = new Map<string, number[]>();
  requests.forEach((r, i) => {
    const tag = r.hashTag ?? defaultTag;
    const group = groups.get(tag);
    if (group) group.push(i);
    else groups.set(tag, [i]);
  });
  return [...groups.values()];
}

/**
 * The script call for the requests (or those at `indexes`): their two keys each, then nowMs and
 * the stop flag, then four args each.
 */
function scriptCall(p: { requests: readonly LimitRequest[]; counterKeys: readonly CounterKeys[]; nowMs: number; stop: boolean; indexes?: readonly number[] }): ScriptCall {
  const count = p.indexes?.length ?? p.requests.length;
  const keys: string[] = [];
  const args = [String(p.nowMs), p.stop ? "1" : "0"];
  for (let j = 0; j < count; j++) {
    const i = p.indexes ? p.indexes[j]! : j;
    const r = p.requests[i]!;
    const k = p.counterKeys[i]!;
    keys.push(k.current, k.previous);
    args.push(r.algorithm, String(r.limit), String(r.windowSeconds), String(r.hits));
  }
  return { script: "apply", keys, args };
}

/** A reply number: Redis answers integers; a string is accepted if it holds one. NaN otherwise. */
function replyNumber(v: unknown): number {
  return typeof v === "number" ? v : typeof v === "string" ? Number(v) : Number.NaN;
}

function parseReply(reply: unknown, count: number): LimitOutcome[] {
  if (!Array.isArray(reply) || reply.length !== count * 3) {
    throw unavailable(`unexpected script reply ${JSON.stringify(reply)}`);
  }
  const outcomes: LimitOutcome[] = new Array<LimitOutcome>(count);
  for (let i = 0; i < count; i++) {
    const over = replyNumber(reply[i * 3]);
    const remaining = replyNumber(reply[i * 3 + 1]);
    const resetSeconds = replyNumber(reply[i * 3 + 2]);
    if (!wholeCount(over) || !wholeCount(remaining) || !wholeCount(resetSeconds)) throw unavailable(`unexpected script reply ${JSON.stringify(reply)}`);
    outcomes[i] = { over: over === 1, remaining, resetSeconds };
  }
  return outcomes;
}

function wholeCount(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

const REASONS = [undefined, "window_rolled", "expired"] as const;

function parseReconcileReply(reply: unknown, count: number): AdjustOutcome[] {
  const numbers = Array.isArray(reply) && reply.length === count * 3 ? reply.map((v: unknown) => (typeof v === "number" ? v : Number.NaN)) : [];
  const valid = numbers.length === count * 3 && numbers.every((v, i) => Number.isSafeInteger(v) && v >= 0 && (i % 3 !== 1 || v < REASONS.length));
  if (!valid) throw unavailable(`unexpected reconcile reply ${JSON.stringify(reply)}`);
  const outcomes: AdjustOutcome[] = [];
  for (let i = 0; i < count; i++) {
    const reason = REASONS[numbers[i * 3 + 1]!];
    const applied = numbers[i * 3] === 1;
    const remaining = numbers[i * 3 + 2]!;
    outcomes.push(reason === undefined ? { applied, remaining } : { applied, reason, remaining });
  }
  return outcomes;
}
