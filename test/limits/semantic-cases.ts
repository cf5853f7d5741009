import type { LimitOutcome, LimitRequest } from "../../src/limits/types.js";

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
