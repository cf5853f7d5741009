import { pino, type Logger } from "pino";
import type { ApplyOptions, Clock, LimitOutcome, LimitRequest, LimitStore } from "../../src/limits/types.js";
import { loadConfigFromSources } from "../../src/ratelimit/config/load.js";
import type { RateLimitConfig } from "../../src/ratelimit/config/types.js";
import type { DescriptorWithAddend, RateLimitRequestWithAddends } from "../../src/ratelimit/request.js";

/** 2023-11-14T22:13:20Z: 20 s into its minute, so a MINUTE window resets in 40 s. */
export const T0 = 1_700_000_000_000;

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(public ms: number = T0) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A pino logger whose JSON lines are kept in memory. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

/** Wraps a real store and records what each apply() received (a spy, not a fake). */
export function recording(store: LimitStore): { store: LimitStore; calls: { requests: LimitRequest[]; options: ApplyOptions }[] } {
  const calls: { requests: LimitRequest[]; options: ApplyOptions }[] = [];
  return {
    calls,
    store: {
      kind: store.kind,
      apply(requests: readonly LimitRequest[], options: ApplyOptions): Promise<LimitOutcome[]> {
        calls.push({ requests: requests.map((r) => ({ ...r })), options: { ...options } });
        return store.apply(requests, options);
      },
      reconcile: (adjustments) => store.reconcile(adjustments),
      peek: (counters) => store.peek(counters),
      close: () => store.close(),
    },
  };
}

export const SERVICE_CONFIG = `
domain: svc
descriptors:
  - key: user
    rate_limit: {unit: minute, requests_per_unit: 3}
  - key: blocked
    rate_limit: {unit: second, requests_per_unit: 0}
  - key: free
    rate_limit: {unlimited: true}
  - key: shadow
    shadow_mode: true
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: path
    value: /api/*
    rate_limit: {unit: minute, requests_per_unit: 2}
  - key: plan
    value: basic
    rate_limit: {name: basic_plan, unit: minute, requests_per_unit: 1}
  - key: plan
    value: vip
    rate_limit: {unit: minute, requests_per_unit: 100, replaces: [{name: basic_plan}]}
  - key: freeplus
    rate_limit: {unlimited: true, replaces: [{name: basic_plan}]}
  - key: quota_a
    quota_mode: true
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: quota_b
    quota_mode: true
    rate_limit: {unit: minute, requests_per_unit: 2}
  - key: strict
    rate_limit: {unit: minute, requests_per_unit: 5, failure_mode: deny}
  - key: sliding
    rate_limit: {unit: minute, requests_per_unit: 2, algorithm: sliding_window}
  - key: bucket
    rate_limit: {unit: minute, requests_per_unit: 2, algorithm: token_bucket}
  - key: weekly
    rate_limit: {unit: week, requests_per_unit: 1}
`;

export function serviceConfig(): RateLimitConfig {
  return loadConfigFromSources([{ name: "svc.yaml", text: SERVICE_CONFIG }]);
}

type EntryList = [key: string, value: string][];

/** A descriptor from [key, value] pairs, with optional override and per-descriptor hits_addend. */
export function d(entries: EntryList, extra: { limit?: { requestsPerUnit: number; unit: number }; hitsAddend?: number } = {}): DescriptorWithAddend {
  return {
    entries: entries.map(([key, value]) => ({ key, value })),
    limit: extra.limit,
    ...(extra.hitsAddend === undefined ? {} : { hitsAddend: { value: extra.hitsAddend } }),
  };
}

export function req(descriptors: DescriptorWithAddend[], options: { domain?: string; hitsAddend?: number } = {}): RateLimitRequestWithAddends {
  return { domain: options.domain ?? "svc", descriptors, hitsAddend: options.hitsAddend ?? 0 };
}
