import { TollgateError } from "../../errors.js";
import { checkedNow, keysForApply, reconcileKeys, validateAdjustments, validateApply } from "../keys.js";
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
import { planAdjustment, remainingNow, type AdjustWrite } from "./adjust.js";
import { commits, decide } from "./algorithms.js";

export const DEFAULT_MAX_KEYS = 100_000;
/** How often (in clock time) apply() sweeps all expired counters. */
const SWEEP_EVERY_MS = 60_000;
/** When full, sweep at most this often; in between the least recently written counter is evicted. */
const FULL_SWEEP_MIN_GAP_MS = 1_000;

interface Entry {
  value: number;
  expiresAtMs: number;
}

/**
 * In-process counters, the default store when no Redis is configured. Same semantics as the Redis
 * store (see memory/algorithms.ts). apply() is synchronous inside, so one request's limits are
 * applied atomically. Memory is bounded: expired counters are dropped when read, on a periodic
 * sweep and when the map is full; past maxKeys the least recently written counter is evicted
 * (which forgets its count — size maxKeys above the number of live keys you expect).
 */
export class MemoryLimitStore implements LimitStore {
  readonly kind = "memory" as const;
  private readonly clock: Clock;
  private readonly maxKeys: number;
  private readonly entries = new Map<string, Entry>();
  private readonly reconciled = new Map<string, { outcomes: AdjustOutcome[]; expiresAtMs: number }>();
  private lastSweepMs = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(options: { clock?: Clock; maxKeys?: number } = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new TollgateError("config_error", `memory limit store: maxKeys must be a positive integer, got ${String(maxKeys)}`);
    }
    this.clock = options.clock ?? systemClock;
    this.maxKeys = maxKeys;
  }

  /** Live and not yet swept counters (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  apply(requests: readonly LimitRequest[], options: ApplyOptions): Promise<LimitOutcome[]> {
    try {
      return Promise.resolve(this.applyNow(requests, options));
    } catch (err: unknown) {
      return Promise.reject(TollgateError.from(err));
    }
  }

  reconcile(adjustments: readonly Adjustment[], options: ReconcileOptions = {}): Promise<AdjustOutcome[]> {
    try {
      return Promise.resolve(this.reconcileOnce(adjustments, options));
    } catch (err: unknown) {
      return Promise.reject(TollgateError.from(err));
    }
  }

  async peek(counters: readonly ReservedCounter[]): Promise<number[]> {
    const outcomes = await this.reconcile(counters.map((counter) => ({ counter, delta: 0 })));
    return outcomes.map((o) => o.remaining);
  }

  close(): Promise<void> {
    this.closed = true;
    this.entries.clear();
    return Promise.resolve();
  }

  private applyNow(requests: readonly LimitRequest[], options: ApplyOptions): LimitOutcome[] {
    validateApply(requests, options);
    if (this.closed) throw new TollgateError("limit_store_unavailable", "memory limit store is closed");
    const nowMs = checkedNow(options.nowMs ?? this.clock.nowMs());
    if (nowMs - this.lastSweepMs >= SWEEP_EVERY_MS) this.sweep(nowMs);

    const allKeys = keysForApply({ prefix: "", hashTag: options.hashTag, requests, nowMs });
    const planned = requests.map((request, i) => {
      const keys = allKeys[i];
      const decision = decide(request, { current: this.read(keys.current, nowMs), previous: this.read(keys.previous, nowMs) }, nowMs);
      return { request, key: keys.current, decision };
    });
    const anyOver = planned.some((p) => p.decision.over);
    const stop = options.stopIncrementWhenOver === true;

    return planned.map(({ request, key, decision }) => {
      const committed = commits({ request, decision, stop, anyOver });
      if (committed && decision.write !== undefined) this.write(key, decision.write, nowMs);
      return decision.outcome(committed);
    });
  }

  /** ReconcileOptions.once: ids kept in insertion order, which with one TTL is expiry order. */
  private reconcileOnce(adjustments: readonly Adjustment[], options: ReconcileOptions): AdjustOutcome[] {
    validateAdjustments(adjustments, options);
    if (options.once === undefined) return this.reconcileNow(adjustments);
    const nowMs = this.clock.nowMs();
    for (const [id, done] of this.reconciled) {
      if (done.expiresAtMs > nowMs) break;
      this.reconciled.delete(id);
    }
    const done = this.reconciled.get(options.once);
    if (done !== undefined) return done.outcomes.map((o) => ({ ...o }));
    const outcomes = this.reconcileNow(adjustments);
    this.reconciled.set(options.once, { outcomes: outcomes.map((o) => ({ ...o })), expiresAtMs: nowMs + RECONCILE_ONCE_TTL_MS });
    if (this.reconciled.size > DEFAULT_MAX_KEYS) this.reconciled.delete(this.reconciled.keys().next().value!);
    return outcomes;
  }

  private reconcileNow(adjustments: readonly Adjustment[]): AdjustOutcome[] {
    validateAdjustments(adjustments);
    if (this.closed) throw new TollgateError("limit_store_unavailable", "memory limit store is closed");
    const nowMs = checkedNow(this.clock.nowMs());
    return adjustments.map(({ counter, delta }) => {
      const keys = reconcileKeys({ prefix: "", counter, nowMs });
      const plan = planAdjustment({ counter, delta, keys, stored: keys.live ? this.read(keys.target, nowMs) : undefined, nowMs });
      if (plan.write !== undefined) this.adjust(keys.target, plan.write, nowMs);
      const remaining = remainingNow({ counter, current: this.read(keys.current, nowMs), previous: this.read(keys.previous, nowMs), nowMs });
      return plan.reason === undefined ? { applied: plan.applied, remaining } : { applied: plan.applied, reason: plan.reason, remaining };
    });
  }

  private adjust(key: string, write: AdjustWrite, nowMs: number): void {
    switch (write.kind) {
      case "delete":
        this.entries.delete(key);
        return;
      case "add": {
        const entry = this.entries.get(key);
        if (entry !== undefined) entry.value += write.amount;
        return;
      }
      case "create":
        this.write(key, { value: write.value, ttlMs: write.ttlMs, always: false }, nowMs);
        return;
      case "set":
        this.write(key, { value: write.value, ttlMs: write.ttlMs, always: true }, nowMs);
        return;
    }
  }

  private read(key: string, nowMs: number): number | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  private write(key: string, write: { value: number; ttlMs: number; always: boolean }, nowMs: number): void {
    const existing = this.entries.get(key);
    const expiresAtMs = existing === undefined || write.always ? nowMs + write.ttlMs : existing.expiresAtMs;
    if (existing !== undefined) {
      // Re-inserting moves the key to the end of the Map: iteration order is least recently written first.
      this.entries.delete(key);
    } else if (this.entries.size >= this.maxKeys) {
      this.makeRoom(nowMs);
    }
    this.entries.set(key, { value: write.value, expiresAtMs });
  }

  private makeRoom(nowMs: number): void {
    if (nowMs - this.lastSweepMs >= FULL_SWEEP_MIN_GAP_MS) this.sweep(nowMs);
    for (const key of this.entries.keys()) {
      if (this.entries.size < this.maxKeys) break;
      this.entries.delete(key);
    }
  }

  private sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAtMs <= nowMs) this.entries.delete(key);
    }
  }
}
