import calculateSlot from "cluster-key-slot";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { TollgateError } from "../../errors.js";
import { resetThrottle, warnThrottled } from "../../observability/log-throttle.js";
import { APPLY_BATCH_LUA, APPLY_LIMITS_LUA } from "./lua.js";
import { RECONCILE_LUA } from "./reconcile-lua.js";
import type { RedisTarget } from "./redis-url.js";

/** Delay between reconnect attempts: service comes back within ~this much of Redis coming back. */
export const RECONNECT_EVERY_MS = 50;
const ERROR_LOG_EVERY_MS = 10_000;
const CLIENT_TIMEOUT_SLACK_MS = 1000;
/** The scripts a store runs: apply (lua.ts) and reconcile (reconcile-lua.ts). */
export type ScriptName = "apply" | "reconcile";
/** One script call as the store makes it: for apply, args start with nowMs and the stop flag (lua.ts). */
type Call = { script: ScriptName; keys: readonly string[]; args: readonly string[] };

/** The ioredis client with the scripts defined by defineCommand (EVALSHA, falling back to EVAL on NOSCRIPT). */
interface ScriptClient {
  tollgateApplyLimits(numKeys: number, ...args: string[]): unknown;
  tollgateApplyBatch(numKeys: number, ...args: string[]): unknown;
  tollgateReconcile(numKeys: number, ...args: string[]): unknown;
}

export interface ConnectionOptions {
  target: RedisTarget;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  logger?: Logger;
  /** Shown in logs; must not contain secrets. */
  label: string;
}

/**
 * One ioredis client (standalone or Cluster) set up to fail fast: no offline queue, no retry of
 * failed commands, a per-command timeout, and reconnects every RECONNECT_EVERY_MS forever. Every
 * 'error' event is consumed (and logged at most every ERROR_LOG_EVERY_MS), so nothing crashes.
 */
export class RedisConnection {
  private readonly client: Redis | Cluster;
  private readonly logger: Logger | undefined;
  private readonly label: string;
  private everReady = false;
  private closed = false;
  /** Callers waiting for 'ready' (one listener for all of them, however many there are). */
  private readonly readyWaiters = new Set<(ready: boolean) => void>();

  constructor(options: ConnectionOptions) {
    this.logger = options.logger;
    this.label = options.label;
    this.client = options.target.cluster ? createCluster(options) : createStandalone(options);
    this.client.defineCommand("tollgateApplyLimits", { lua: APPLY_LIMITS_LUA });
    this.client.defineCommand("tollgateApplyBatch", { lua: APPLY_BATCH_LUA });
    this.client.defineCommand("tollgateReconcile", { lua: RECONCILE_LUA });
    this.client.on("error", (err: unknown) => this.onError(err));
    this.client.on("node error", (err: unknown) => this.onError(err));
    this.client.on("ready", () => {
      this.everReady = true;
      if (this.logger) resetThrottle(this.logger, this.throttleKind);
      this.logger?.info({ redis: this.label }, "limit store connected to Redis");
      this.wakeWaiters(true);
    });
  }

  get isReady(): boolean {
    return this.client.status === "ready";
  }

  /** True until the first successful connection: callers may then wait for it instead of failing. */
  get starting(): boolean {
    return !this.everReady && !this.closed;
  }

  /** Resolves true when ready within timeoutMs, false otherwise; never rejects. */
  waitForReady(timeoutMs: number): Promise<boolean> {
    if (this.isReady) return Promise.resolve(true);
    if (this.closed || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = (ready: boolean): void => {
        clearTimeout(timer);
        resolve(ready);
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.readyWaiters.add(waiter);
    });
  }

  /** Whether this is a Redis Cluster client (a script's keys must then share one slot). */
  get cluster(): boolean {
    return this.client instanceof Cluster;
  }

  /**
   * The node that serves a key, as the client last learned the slot map; "" on a single Redis.
   * Calls of one node share a pipeline (ioredis sends a cluster pipeline to one node).
   */
  nodeOf(key: string): string {
    if (!(this.client instanceof Cluster)) return "";
    const slot = calculateSlot(key);
    return this.client.slots[slot]?.[0] ?? `slot ${slot}`;
  }

  /**
   * Writes the calls as one pipeline (all keys of one call share a slot; all calls one node).
   * On a single Redis, consecutive apply calls go as one APPLY_BATCH_LUA script, which runs them
   * in the same order with the same results, for one command's cost instead of one each.
   */
  sendScripts(calls: readonly Call[]): Promise<[Error | null, unknown][]> {
    const pipeline = this.client.pipeline() as unknown as ScriptClient & { exec(): Promise<[Error | null, unknown][] | null> };
    /** Per pipeline command, how many calls it carries (a batch carries several). */
    const sizes: number[] = [];
    for (let i = 0; i < calls.length; ) {
      const c = calls[i]!;
      let run = 1;
      if (c.script === "apply" && !this.cluster) while (i + run < calls.length && calls[i + run]!.script === "apply") run++;
      if (run > 1) {
        const batch = calls.slice(i, i + run);
        const keys: string[] = [];
        const args = [String(run)];
        for (const b of batch) {
          keys.push(...b.keys);
          const [nowMs, stop, ...rest] = b.args;
          args.push(nowMs!, stop!, String(rest.length / 4), ...rest);
        }
        pipeline.tollgateApplyBatch(keys.length, ...keys, ...args);
      } else if (c.script === "reconcile") {
        pipeline.tollgateReconcile(c.keys.length, ...c.keys, ...c.args);
      } else {
        pipeline.tollgateApplyLimits(c.keys.length, ...c.keys, ...c.args);
      }
      sizes.push(run);
      i += run;
    }
    return pipeline.exec().then((replies) => (replies ? unbatch(replies, sizes) : []));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeWaiters(false);
    try {
      if (this.client.status === "ready") {
        await Promise.race([this.client.quit(), new Promise((resolve) => setTimeout(resolve, 200).unref())]);
      }
    } catch {
      // quit() failing only means the connection is already gone.
    } finally {
      this.client.disconnect();
    }
  }

  private wakeWaiters(ready: boolean): void {
    const waiters = [...this.readyWaiters];
    this.readyWaiters.clear();
    for (const waiter of waiters) waiter(ready);
  }

  private onError(err: unknown): void {
    if (this.closed || this.logger === undefined) return;
    const message = err instanceof Error ? err.message : String(err);
    warnThrottled(this.logger, this.throttleKind, { redis: this.label, err: message }, "limit store cannot reach Redis; retrying", { intervalMs: ERROR_LOG_EVERY_MS });
  }

  private get throttleKind(): string {
    return `redis_unreachable:${this.label}`;
  }

}

/** One reply per call again: a batch's reply holds each call's result, or the text of its error. */
function unbatch(replies: [Error | null, unknown][], sizes: readonly number[]): [Error | null, unknown][] {
  if (sizes.every((n) => n === 1)) return replies;
  const out: [Error | null, unknown][] = [];
  sizes.forEach((n, i) => {
    const [err, value] = replies[i] ?? [new Error("missing pipeline reply"), undefined];
    if (n === 1) {
      out.push([err, value]);
    } else if (err || !Array.isArray(value) || value.length !== n) {
      const e = err ?? new Error(`unexpected batch reply ${JSON.stringify(value)}`);
      for (let j = 0; j < n; j++) out.push([e, undefined]);
    } else {
      for (const one of value) out.push(typeof one === "string" ? [new Error(one), undefined] : [null, one]);
    }
  });
  return out;
}

function commonOptions(options: ConnectionOptions): RedisOptions {
  const { target } = options;
  const common: RedisOptions = {
    // Only a backstop: RedisStore's own deadline answers first and lets already-arrived replies win,
    // which ioredis's timer (rejecting before the socket is read) would not.
    commandTimeout: options.commandTimeoutMs + CLIENT_TIMEOUT_SLACK_MS,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    protocol: 2,
    disableClientInfo: true,
    // No auto-pipelining: ScriptBatcher pipelines concurrent calls itself, so that their deadline
    // starts at the write and several pipelines may be in flight at once.
  };
  if (target.username !== undefined) common.username = target.username;
  if (target.password !== undefined) common.password = target.password;
  if (target.tls) common.tls = {};
  return common;
}

function createStandalone(options: ConnectionOptions): Redis {
  const node = options.target.nodes[0];
  if (node === undefined) throw new TollgateError("config_error", "no Redis host given");
  const redisOptions: RedisOptions = {
    ...commonOptions(options),
    host: node.host,
    port: node.port,
    enableOfflineQueue: false,
    lazyConnect: false,
    retryStrategy: () => RECONNECT_EVERY_MS,
  };
  if (options.target.db !== undefined) redisOptions.db = options.target.db;
  return new Redis(redisOptions);
}

function createCluster(options: ConnectionOptions): Cluster {
  const clusterOptions: ClusterOptions = {
    enableOfflineQueue: false,
    enableReadyCheck: true,
    lazyConnect: false,
    clusterRetryStrategy: () => RECONNECT_EVERY_MS,
    clusterNodeRetryStrategy: () => RECONNECT_EVERY_MS,
    // Redirections and failover retries must fit inside the command deadline.
    maxRedirections: 4,
    retryDelayOnFailover: 10,
    retryDelayOnClusterDown: 10,
    retryDelayOnTryAgain: 10,
    slotsRefreshTimeout: Math.max(options.commandTimeoutMs, 500),
    redisOptions: commonOptions(options),
  };
  // With TLS, keep the hostnames for certificate checks instead of resolving them to IPs first.
  if (options.target.tls) clusterOptions.dnsLookup = (address, callback) => callback(null, address);
  return new Cluster(
    options.target.nodes.map((n) => ({ host: n.host, port: n.port })),
    clusterOptions,
  );
}
