import type { AdjustOutcome, Adjustment, LimitOutcome, LimitRequest, ReservedCounter } from "../../src/limits/types.js";

/** 2023-11-14T21:53:00Z: on a minute boundary (1_699_999_980 s), 780 s into its hour. */
export const T0 = 1_699_999_980_000;

export interface Step {
  /** Clock time, in ms after T0. */
  at: number;
  limits: LimitRequest[];
  stop?: boolean;
  expect: LimitOutcome[];
}

export interface SemanticCase {
  title: string;
  steps: Step[];
}

export const fixed = (key: string, limit: number, hits: number, windowSeconds = 60): LimitRequest => ({
  key, limit, hits, windowSeconds, algorithm: "fixed_window",
});
export const sliding = (key: string, limit: number, hits: number, windowSeconds = 60): LimitRequest => ({
  key, limit, hits, windowSeconds, algorithm: "sliding_window",
});
export const bucket = (key: string, limit: number, hits: number, windowSeconds = 60): LimitRequest => ({
  key, limit, hits, windowSeconds, algorithm: "token_bucket",
});
export const ok = (remaining: number, resetSeconds: number): LimitOutcome => ({ over: false, remaining, resetSeconds });
export const over = (remaining: number, resetSeconds: number): LimitOutcome => ({ over: true, remaining, resetSeconds });

/** One step with one limit. */
const one = (at: number, limit: LimitRequest, expect: LimitOutcome): Step => ({ at, limits: [limit], expect: [expect] });

/** Every store must answer these exactly (fixed clock, values worked out by hand in the comments). */
export const SEMANTIC_CASES: SemanticCase[] = [
  // ---- fixed_window: envoyproxy/ratelimit semantics
  {
    title: "fixed_window – admits up to the limit, then OVER_LIMIT with remaining 0 and reset at the window end",
    steps: [
      one(10_000, fixed("a", 3, 1), ok(2, 50)),
      one(10_000, fixed("a", 3, 1), ok(1, 50)),
      one(10_000, fixed("a", 3, 1), ok(0, 50)),
      one(10_000, fixed("a", 3, 1), over(0, 50)),
    ],
  },
  {
    title: "fixed_window – resetSeconds is window − (nowSeconds % window), in whole seconds",
    steps: [
      one(0, fixed("a", 5, 1), ok(4, 60)),
      one(59_999, fixed("a", 5, 1), ok(3, 1)),
      one(30_500, fixed("a", 5, 1), ok(2, 30)),
    ],
  },
  {
    title: "fixed_window – a new epoch-aligned window starts again from zero",
    steps: [
      one(58_000, fixed("a", 2, 2), ok(0, 2)),
      one(58_000, fixed("a", 2, 1), over(0, 2)),
      one(60_000, fixed("a", 2, 1), ok(1, 60)),
    ],
  },
  {
    title: "fixed_window – over-limit hits still count, as in envoyproxy/ratelimit",
    steps: [
      one(1_000, fixed("a", 2, 1), ok(1, 59)),
      one(1_000, fixed("a", 2, 5), over(0, 59)),
      // count is 6 now; a read sees it over
      one(1_000, fixed("a", 2, 0), over(0, 59)),
    ],
  },
  {
    title: "fixed_window – hits N consumes N units",
    steps: [
      one(0, fixed("a", 10, 4), ok(6, 60)),
      one(0, fixed("a", 10, 6), ok(0, 60)),
      one(0, fixed("a", 10, 1), over(0, 60)),
    ],
  },
  {
    title: "fixed_window – hits 0 only reads the counter",
    steps: [
      one(0, fixed("a", 5, 0), ok(5, 60)),
      one(0, fixed("a", 5, 2), ok(3, 60)),
      one(0, fixed("a", 5, 0), ok(3, 60)),
      one(0, fixed("a", 5, 0), ok(3, 60)),
    ],
  },
  {
    title: "fixed_window – limit 0 blocks every hit (a read of an untouched limit 0 is OK with remaining 0)",
    steps: [
      one(15_000, fixed("a", 0, 1), over(0, 45)),
      one(15_000, fixed("a", 0, 0), over(0, 45)),
      one(15_000, fixed("untouched", 0, 0), ok(0, 45)),
    ],
  },
  {
    title: "fixed_window – an hour window aligns to the epoch hour (T0 is 780 s into it)",
    steps: [one(0, fixed("a", 100, 1, 3600), ok(99, 2820))],
  },

  // ---- sliding_window: current + floor(previous * (W - elapsed) / W)
  {
    title: "sliding_window – in its first window it counts like a fixed window; over resets when the request fits",
    steps: [
      one(15_000, sliding("a", 10, 9), ok(1, 45)),
      one(15_000, sliding("a", 10, 1), ok(0, 45)),
      // next window, 1 ms in: floor(10 * 59999 / 60000) = 9, so 1 more fits after 45.001 s -> 46
      one(15_000, sliding("a", 10, 1), over(0, 46)),
    ],
  },
  {
    title: "sliding_window – the previous window weighs in by the share of it still inside the sliding window",
    steps: [
      one(15_000, sliding("a", 10, 10), ok(0, 45)),
      // 15 s into window 2: used = 0 + floor(10 * 45000 / 60000) = 7
      one(75_000, sliding("a", 10, 1), ok(2, 45)),
      one(75_000, sliding("a", 10, 2), ok(0, 45)),
      // used 3 + 7 = 10; previous share drops to 6 when (W - e) <= 41999, i.e. e >= 18001: 3.001 s -> 4
      one(75_000, sliding("a", 10, 1), over(0, 4)),
      one(78_000, sliding("a", 10, 1), over(0, 1)),
      one(78_001, sliding("a", 10, 1), ok(0, 42)),
    ],
  },
  {
    title: "sliding_window – rejected hits do not count",
    steps: [
      one(5_000, sliding("a", 5, 5), ok(0, 55)),
      // fits in the next window once floor(5 * (W - e) / W) <= 2: e >= 24001 -> 55 s + 24.001 s -> 80
      one(5_000, sliding("a", 5, 3), over(0, 80)),
      one(5_000, sliding("a", 5, 0), ok(0, 55)),
      one(84_001, sliding("a", 5, 3), ok(0, 36)),
    ],
  },
  {
    title: "sliding_window – after two idle windows nothing is remembered",
    steps: [
      one(10_000, sliding("a", 4, 4), ok(0, 50)),
      one(130_000, sliding("a", 4, 1), ok(3, 50)),
    ],
  },
  {
    title: "sliding_window – a request larger than the limit is refused, counts nothing, and resets at the window end",
    steps: [
      one(20_000, sliding("a", 5, 6), over(5, 40)),
      one(20_000, sliding("a", 5, 5), ok(0, 40)),
    ],
  },
  {
    title: "sliding_window – limit 0 blocks every hit",
    steps: [
      one(20_000, sliding("a", 0, 1), over(0, 40)),
      one(20_000, sliding("a", 0, 0), ok(0, 40)),
    ],
  },

  // ---- token_bucket: GCRA, 10 per 60 s = one unit every 6 s, burst 10
  {
    title: "token_bucket – a full bucket admits a burst of limit, then one unit every window/limit",
    steps: [
      one(5_000, bucket("a", 10, 1), ok(9, 6)),
      one(5_000, bucket("a", 10, 8), ok(1, 54)),
      one(5_000, bucket("a", 10, 1), ok(0, 60)),
      one(5_000, bucket("a", 10, 1), over(0, 6)),
      one(8_000, bucket("a", 10, 1), over(0, 3)),
      one(10_999, bucket("a", 10, 1), over(0, 1)),
      one(11_000, bucket("a", 10, 1), ok(0, 60)),
    ],
  },
  {
    title: "token_bucket – a request of N units waits until N units are free; a refused one takes nothing",
    steps: [
      one(0, bucket("a", 10, 8), ok(2, 48)),
      one(0, bucket("a", 10, 3), over(2, 6)),
      one(0, bucket("a", 10, 2), ok(0, 60)),
    ],
  },
  {
    title: "token_bucket – hits 0 reads without taking a unit; resetSeconds is the time until the bucket is full",
    steps: [
      one(0, bucket("a", 10, 0), ok(10, 0)),
      one(0, bucket("a", 10, 4), ok(6, 24)),
      one(0, bucket("a", 10, 0), ok(6, 24)),
      one(12_000, bucket("a", 10, 0), ok(8, 12)),
    ],
  },
  {
    title: "token_bucket – a request larger than the limit can never fit: refused with resetSeconds = window",
    steps: [
      one(0, bucket("a", 10, 11), over(10, 60)),
      one(0, bucket("a", 10, 10), ok(0, 60)),
    ],
  },
  {
    title: "token_bucket – limit 0 blocks every hit",
    steps: [
      one(0, bucket("a", 0, 1), over(0, 60)),
      one(0, bucket("a", 0, 0), ok(0, 0)),
    ],
  },
  {
    title: "token_bucket – fractional emission intervals (3 per second) stay exact",
    steps: [
      one(0, bucket("a", 3, 1, 1), ok(2, 1)),
      one(0, bucket("a", 3, 1, 1), ok(1, 1)),
      one(0, bucket("a", 3, 1, 1), ok(0, 1)),
      one(0, bucket("a", 3, 1, 1), over(0, 1)),
      // the next unit frees at 333.33 ms
      one(333, bucket("a", 3, 1, 1), over(0, 1)),
      one(334, bucket("a", 3, 1, 1), ok(0, 1)),
    ],
  },

  // ---- several limits in one apply
  {
    title: "several limits in one apply – each is reported in order; one over does not stop the others counting",
    steps: [
      {
        at: 10_000,
        limits: [fixed("a", 1, 1), fixed("b", 5, 1), sliding("c", 5, 1), bucket("d", 5, 1)],
        expect: [ok(0, 50), ok(4, 50), ok(4, 50), ok(4, 12)],
      },
      {
        at: 10_000,
        limits: [fixed("a", 1, 1), fixed("b", 5, 1), sliding("c", 5, 1), bucket("d", 5, 1)],
        expect: [over(0, 50), ok(3, 50), ok(3, 50), ok(3, 24)],
      },
    ],
  },
  {
    title: "stopIncrementWhenOver – with one limit over, the others are not incremented (the over fixed_window still counts)",
    steps: [
      {
        at: 10_000,
        stop: true,
        limits: [fixed("a", 1, 1), fixed("b", 5, 1), sliding("c", 5, 1), bucket("d", 5, 1)],
        expect: [ok(0, 50), ok(4, 50), ok(4, 50), ok(4, 12)],
      },
      {
        at: 10_000,
        stop: true,
        limits: [fixed("a", 1, 1), fixed("b", 5, 1), sliding("c", 5, 1), bucket("d", 5, 1)],
        expect: [over(0, 50), ok(4, 50), ok(4, 50), ok(4, 12)],
      },
      {
        // a read: "a" holds 2 (> 1), the others still hold 1
        at: 10_000,
        limits: [fixed("a", 1, 0), fixed("b", 5, 0), sliding("c", 5, 0), bucket("d", 5, 0)],
        expect: [over(0, 50), ok(4, 50), ok(4, 50), ok(4, 12)],
      },
    ],
  },
  {
    title: "stopIncrementWhenOver – a hit that would go over counts as over and blocks the others",
    steps: [
      { at: 10_000, stop: true, limits: [fixed("a", 3, 2), fixed("b", 10, 2)], expect: [ok(1, 50), ok(8, 50)] },
      { at: 10_000, stop: true, limits: [fixed("a", 3, 2), fixed("b", 10, 2)], expect: [over(0, 50), ok(8, 50)] },
      { at: 10_000, limits: [fixed("a", 3, 0), fixed("b", 10, 0)], expect: [over(0, 50), ok(8, 50)] },
    ],
  },
  {
    title: "stopIncrementWhenOver – an over token_bucket blocks a fixed_window increment",
    steps: [
      { at: 10_000, stop: true, limits: [bucket("x", 1, 1), fixed("y", 10, 1)], expect: [ok(0, 60), ok(9, 50)] },
      { at: 10_000, stop: true, limits: [bucket("x", 1, 1), fixed("y", 10, 1)], expect: [over(0, 60), ok(9, 50)] },
      { at: 10_000, limits: [bucket("x", 1, 0), fixed("y", 10, 0)], expect: [ok(0, 60), ok(9, 50)] },
    ],
  },
  {
    title: "an empty list of limits answers an empty list",
    steps: [{ at: 0, limits: [], expect: [] }],
  },
];

// ---- reconcile: adjust a reservation by actual − reserved (src/limits/memory/adjust.ts)

/** A reservation's counter as Check records it; the runner fills in each case's hash tag. */
export const reservedOn = (request: LimitRequest, windowStartAt: number, reserved = request.hits): ReservedCounter => ({
  name: request.key,
  key: request.key,
  hashTag: "",
  algorithm: request.algorithm,
  windowSeconds: request.windowSeconds,
  windowStartMs: T0 + windowStartAt,
  limit: request.limit,
  reserved,
  streamStop: false,
});
export const applied = (remaining: number): AdjustOutcome => ({ applied: true, remaining });
export const notApplied = (reason: "window_rolled" | "expired", remaining: number): AdjustOutcome => ({ applied: false, reason, remaining });

export type ReconcileStep =
  | { at: number; apply: LimitRequest[]; expect: LimitOutcome[] }
  | { at: number; reconcile: Adjustment[]; expect: AdjustOutcome[] };

export interface ReconcileCase {
  title: string;
  steps: ReconcileStep[];
}

const admit = (at: number, limit: LimitRequest, expect: LimitOutcome): ReconcileStep => ({ at, apply: [limit], expect: [expect] });
const settle = (at: number, counter: ReservedCounter, delta: number, expect: AdjustOutcome): ReconcileStep => ({
  at, reconcile: [{ counter, delta }], expect: [expect],
});

/** Every store must answer these exactly; the rules are in src/limits/memory/adjust.ts and docs/policy-limits.md. */
export const RECONCILE_CASES: ReconcileCase[] = [
  {
    title: "fixed_window – a refund returns the unused part of the reservation to the window",
    steps: [
      admit(10_000, fixed("a", 100, 40), ok(60, 50)),
      // used 10 of 40
      settle(20_000, reservedOn(fixed("a", 100, 40), 0), -30, applied(90)),
      admit(20_000, fixed("a", 100, 0), ok(90, 40)),
    ],
  },
  {
    title: "fixed_window – an extra charge may put the counter over: the next request is refused",
    steps: [
      admit(10_000, fixed("a", 100, 90), ok(10, 50)),
      settle(20_000, reservedOn(fixed("a", 100, 90), 0), 20, applied(0)),
      admit(20_000, fixed("a", 100, 1), over(0, 40)),
    ],
  },
  {
    title: "fixed_window – a refund never takes the counter below zero",
    steps: [
      admit(10_000, fixed("a", 100, 3), ok(97, 50)),
      // the handle says 5 were reserved, the counter holds 3: it stops at 0
      settle(10_000, reservedOn(fixed("a", 100, 3), 0, 5), -5, applied(100)),
      admit(10_000, fixed("a", 100, 100), ok(0, 50)),
    ],
  },
  {
    title: "fixed_window – once the reservation's window has ended nothing is adjusted (window_rolled); remaining is the current window's",
    steps: [
      admit(10_000, fixed("a", 100, 40), ok(60, 50)),
      admit(70_000, fixed("a", 100, 10), ok(90, 50)),
      settle(70_000, reservedOn(fixed("a", 100, 40), 0), -30, notApplied("window_rolled", 90)),
      settle(70_000, reservedOn(fixed("a", 100, 40), 0), 20, notApplied("window_rolled", 90)),
      admit(70_000, fixed("a", 100, 0), ok(90, 50)),
    ],
  },
  {
    title: "fixed_window – a refund on a counter that is gone changes nothing (expired); an extra charge recreates it",
    steps: [
      settle(10_000, reservedOn(fixed("a", 100, 5), 0), -5, notApplied("expired", 100)),
      admit(10_000, fixed("a", 100, 0), ok(100, 50)),
      settle(10_000, reservedOn(fixed("a", 100, 5), 0), 7, applied(93)),
      admit(10_000, fixed("a", 100, 0), ok(93, 50)),
    ],
  },
  {
    title: "fixed_window – cost 0 at admission: every unit is charged at reconcile",
    steps: [
      admit(10_000, fixed("a", 100, 0), ok(100, 50)),
      settle(11_000, reservedOn(fixed("a", 100, 0), 0), 25, applied(75)),
      settle(12_000, reservedOn(fixed("a", 100, 0), 0), 25, applied(50)),
      admit(12_000, fixed("a", 100, 0), ok(50, 48)),
    ],
  },
  {
    title: "fixed_window – a reservation counted in a window that has not begun here (a replica's clock ahead) is adjusted there",
    steps: [
      admit(60_000, fixed("a", 100, 40), ok(60, 60)),
      settle(59_000, reservedOn(fixed("a", 100, 40), 60_000), -30, applied(100)),
      admit(60_000, fixed("a", 100, 0), ok(90, 60)),
    ],
  },
  {
    title: "sliding_window – a refund in the same window returns the unused units",
    steps: [
      admit(15_000, sliding("a", 100, 40), ok(60, 45)),
      settle(30_000, reservedOn(sliding("a", 100, 40), 0), -30, applied(90)),
      admit(30_000, sliding("a", 100, 0), ok(90, 30)),
    ],
  },
  {
    title: "sliding_window – reconciled in the next window, the delta weighs in by the previous window's share",
    steps: [
      admit(15_000, sliding("a", 100, 80), ok(20, 45)),
      // 15 s into the next window the previous one weighs 45/60: floor(80 × 0.75) = 60
      admit(75_000, sliding("a", 100, 0), ok(40, 45)),
      // previous becomes 40: floor(40 × 0.75) = 30
      settle(75_000, reservedOn(sliding("a", 100, 80), 0), -40, applied(70)),
      admit(75_000, sliding("a", 100, 0), ok(70, 45)),
    ],
  },
  {
    title: "sliding_window – two windows later the reservation no longer weighs in: window_rolled",
    steps: [
      admit(15_000, sliding("a", 100, 80), ok(20, 45)),
      settle(135_000, reservedOn(sliding("a", 100, 80), 0), -40, notApplied("window_rolled", 100)),
    ],
  },
  {
    title: "sliding_window – an extra charge may go over the limit; the next request waits",
    steps: [
      admit(15_000, sliding("a", 100, 90), ok(10, 45)),
      settle(15_000, reservedOn(sliding("a", 100, 90), 0), 20, applied(0)),
      // used 110; 1 more fits once floor(110 × (60000 − e) / 60000) <= 99: e >= 5455 into the next window -> 45 + 5.455 s -> 51
      admit(15_000, sliding("a", 100, 1), over(0, 51)),
    ],
  },
  {
    title: "sliding_window – an extra charge on a previous window that is gone recreates it, still weighed in",
    steps: [
      settle(75_000, reservedOn(sliding("a", 100, 0), 0), 40, applied(70)),
      admit(75_000, sliding("a", 100, 0), ok(70, 45)),
    ],
  },
  {
    title: "token_bucket – a refund moves the TAT back by refund × window / limit",
    steps: [
      // 100 per minute: one unit every 600 ms; 40 units take 24 s
      admit(0, bucket("a", 100, 40), ok(60, 24)),
      settle(0, reservedOn(bucket("a", 100, 40), 0), -30, applied(90)),
      admit(0, bucket("a", 100, 0), ok(90, 6)),
    ],
  },
  {
    title: "token_bucket – a refund never fills the bucket past full",
    steps: [
      admit(0, bucket("a", 100, 40), ok(60, 24)),
      // at 20 s the TAT is 24 s; moving it back 18 s lands before now: the bucket is full
      settle(20_000, reservedOn(bucket("a", 100, 40), 0), -30, applied(100)),
      admit(20_000, bucket("a", 100, 0), ok(100, 0)),
    ],
  },
  {
    title: "token_bucket – a refund after the bucket refilled completely finds nothing (expired)",
    steps: [
      admit(0, bucket("a", 100, 40), ok(60, 24)),
      settle(30_000, reservedOn(bucket("a", 100, 40), 0), -30, notApplied("expired", 100)),
    ],
  },
  {
    title: "token_bucket – an extra charge puts the bucket in debt; the next request waits for it",
    steps: [
      admit(0, bucket("a", 100, 90), ok(10, 54)),
      // TAT 54 s + 30 × 0.6 s = 72 s
      settle(0, reservedOn(bucket("a", 100, 90), 0), 30, applied(0)),
      admit(0, bucket("a", 100, 1), over(0, 13)),
      admit(12_600, bucket("a", 100, 1), ok(0, 60)),
    ],
  },
  {
    title: "token_bucket – an extra charge on a full bucket starts from now",
    steps: [
      settle(0, reservedOn(bucket("a", 100, 0), 0), 50, applied(50)),
      admit(0, bucket("a", 100, 0), ok(50, 30)),
    ],
  },
  {
    title: "delta 0 only reads (peek): remaining as an admission would see it",
    steps: [
      admit(10_000, fixed("f", 10, 4), ok(6, 50)),
      {
        at: 10_000,
        reconcile: [
          { counter: reservedOn(fixed("f", 10, 4), 0), delta: 0 },
          { counter: reservedOn(sliding("s", 10, 0), 0), delta: 0 },
          { counter: reservedOn(bucket("b", 10, 0), 0), delta: 0 },
        ],
        expect: [applied(6), applied(10), applied(10)],
      },
      admit(10_000, fixed("f", 10, 0), ok(6, 50)),
    ],
  },
  {
    title: "several counters in one reconcile – each is adjusted and answered in order; one counter twice applies both in turn",
    steps: [
      {
        at: 10_000,
        apply: [fixed("f", 100, 50), sliding("s", 100, 50), bucket("b", 100, 50)],
        expect: [ok(50, 50), ok(50, 50), ok(50, 30)],
      },
      {
        at: 10_000,
        reconcile: [
          { counter: reservedOn(fixed("f", 100, 50), 0), delta: -20 },
          { counter: reservedOn(sliding("s", 100, 50), 0), delta: 10 },
          { counter: reservedOn(bucket("b", 100, 50), 0), delta: -50 },
          { counter: reservedOn(fixed("f", 100, 50), 0), delta: -20 },
        ],
        expect: [applied(70), applied(40), applied(100), applied(90)],
      },
      {
        at: 10_000,
        apply: [fixed("f", 100, 0), sliding("s", 100, 0), bucket("b", 100, 0)],
        expect: [ok(90, 50), ok(40, 50), ok(100, 0)],
      },
    ],
  },
];
