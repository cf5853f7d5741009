import { afterEach, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code, RateLimitResponse_RateLimit_Unit as Unit } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import type { LimitStore } from "../../src/limits/types.js";
import { RateLimitService, type RateLimitServiceOptions } from "../../src/ratelimit/service.js";
import { captureLogger, d, ManualClock, recording, req, serviceConfig, T0 } from "./helpers.js";

const MINUTE = Unit.MINUTE;
const SECOND = Unit.SECOND;

const okStatus = (remaining: number, rpu: number, unit: Unit, resetSeconds: number, name = "") => ({
  code: Code.OK,
  currentLimit: { name, requestsPerUnit: rpu, unit },
  limitRemaining: remaining,
  durationUntilReset: { seconds: resetSeconds, nanos: 0 },
  quota: undefined,
});
const overStatus = (rpu: number, unit: Unit, resetSeconds: number, name = "") => ({
  code: Code.OVER_LIMIT,
  currentLimit: { name, requestsPerUnit: rpu, unit },
  limitRemaining: 0,
  durationUntilReset: { seconds: resetSeconds, nanos: 0 },
  quota: undefined,
});
const NO_LIMIT = { code: Code.OK, currentLimit: undefined, limitRemaining: 0, durationUntilReset: undefined, quota: undefined };
const UNLIMITED = { code: Code.OK, currentLimit: undefined, limitRemaining: 4294967295, durationUntilReset: undefined, quota: undefined };

/**
 * ShouldRateLimit semantics, run once per store kind. makeStore gets the test's clock and must give
 * a store with fresh counters (a new memory store, or a Redis store with a unique key prefix).
 */
export function describeServiceSemantics(label: string, makeStore: (clock: ManualClock) => LimitStore): void {
  describe(`RateLimitService on ${label}`, () => {
    const stores: LimitStore[] = [];
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    });

    function setup(extra: Partial<RateLimitServiceOptions> = {}) {
      const clock = new ManualClock(T0);
      const spy = recording(makeStore(clock));
      stores.push(spy.store);
      const { logger, lines } = captureLogger();
      const config = serviceConfig();
      const service = new RateLimitService({ config: () => config, store: spy.store, logger, clock, ...extra });
      return { service, clock, calls: spy.calls, lines };
    }

    it("counts down per minute, then answers OVER_LIMIT with remaining 0 and the time to the window end", async () => {
      const { service } = setup();
      const remaining: number[] = [];
      for (let i = 0; i < 3; i++) remaining.push((await service.shouldRateLimit(req([d([["user", "alice"]])]))).statuses[0]?.limitRemaining ?? -1);
      expect(remaining).toEqual([2, 1, 0]);
      const res = await service.shouldRateLimit(req([d([["user", "alice"]])]));
      expect(res.overallCode).toBe(Code.OVER_LIMIT);
      expect(res.statuses).toEqual([overStatus(3, MINUTE, 40)]);
      expect(res.responseHeadersToAdd).toEqual([]);
    });

    it("window reset – a new minute starts from the full limit again", async () => {
      const { service, clock } = setup();
      for (let i = 0; i < 4; i++) await service.shouldRateLimit(req([d([["user", "bob"]])]));
      clock.advance(39_000);
      expect((await service.shouldRateLimit(req([d([["user", "bob"]])]))).overallCode).toBe(Code.OVER_LIMIT);
      clock.advance(1_000);
      const res = await service.shouldRateLimit(req([d([["user", "bob"]])]));
      expect(res.statuses).toEqual([okStatus(2, 3, MINUTE, 60)]);
    });

    it("requests_per_unit 0 blocks the very first request", async () => {
      const { service } = setup();
      const res = await service.shouldRateLimit(req([d([["blocked", "x"]])]));
      expect(res.overallCode).toBe(Code.OVER_LIMIT);
      expect(res.statuses).toEqual([overStatus(0, SECOND, 1)]);
    });

    it("unlimited – answers OK with remaining 4294967295 and touches no counter", async () => {
      const { service, calls } = setup();
      const res = await service.shouldRateLimit(req([d([["free", "anything"]])]));
      expect(res.overallCode).toBe(Code.OK);
      expect(res.statuses).toEqual([UNLIMITED]);
      expect(calls).toEqual([]);
    });

    it("no matching descriptor and unknown domain – OK without a limit and no store call", async () => {
      const { service, calls } = setup();
      const res = await service.shouldRateLimit(req([d([["nothing", "here"]]), d([["user", "x"], ["deeper", "y"]])]));
      expect(res).toMatchObject({ overallCode: Code.OK, statuses: [NO_LIMIT, NO_LIMIT] });
      const other = await service.shouldRateLimit(req([d([["user", "x"]])], { domain: "unknown" }));
      expect(other).toMatchObject({ overallCode: Code.OK, statuses: [NO_LIMIT] });
      expect(calls).toEqual([]);
    });

    it("one over-limit descriptor makes the whole request OVER_LIMIT; all go to the store in one call", async () => {
      const { service, calls } = setup();
      const res = await service.shouldRateLimit(req([d([["user", "carol"]]), d([["blocked", "x"]]), d([["free", "x"]]), d([["none", "x"]])]));
      expect(res.overallCode).toBe(Code.OVER_LIMIT);
      expect(res.statuses).toEqual([okStatus(2, 3, MINUTE, 40), overStatus(0, SECOND, 1), UNLIMITED, NO_LIMIT]);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toEqual({
        requests: [
          // Each counter is its own hash tag: on Redis Cluster the descriptors spread over the nodes.
          { key: "svc_user_carol_", limit: 3, windowSeconds: 60, hits: 1, algorithm: "fixed_window", hashTag: "svc_user_carol_" },
          { key: "svc_blocked_x_", limit: 0, windowSeconds: 1, hits: 1, algorithm: "fixed_window", hashTag: "svc_blocked_x_" },
        ],
        options: { hashTag: "svc", stopIncrementWhenOver: false },
      });
      // Like ratelimit, the descriptor that was within its limit still counted.
      expect((await service.shouldRateLimit(req([d([["user", "carol"]])]))).statuses[0]?.limitRemaining).toBe(1);
    });

    it("stopIncrementWhenOver – when one descriptor is over, the others are not counted", async () => {
      const { service, calls } = setup({ stopIncrementWhenOver: true });
      await service.shouldRateLimit(req([d([["user", "dave"]]), d([["blocked", "x"]])]));
      // The descriptors are coupled, so they stay under the domain's one tag, in one atomic script.
      expect(calls[0]?.options).toEqual({ hashTag: "svc", stopIncrementWhenOver: true });
      expect(calls[0]?.requests.map((r) => r.hashTag)).toEqual([undefined, undefined]);
      expect((await service.shouldRateLimit(req([d([["user", "dave"]])]))).statuses[0]?.limitRemaining).toBe(2);
    });

    it("hits_addend – the request's applies to all, 0 means 1, a descriptor's own wins and 0 only checks", async () => {
      const { service, calls } = setup();
      const r1 = await service.shouldRateLimit(req([d([["user", "erin"]])], { hitsAddend: 2 }));
      expect(r1.statuses[0]?.limitRemaining).toBe(1);
      const r2 = await service.shouldRateLimit(req([d([["user", "erin"]], { hitsAddend: 0 })], { hitsAddend: 5 }));
      expect(r2.statuses).toEqual([okStatus(1, 3, MINUTE, 40)]);
      const r3 = await service.shouldRateLimit(req([d([["user", "erin"]])], { hitsAddend: 0 }));
      expect(r3.statuses[0]?.limitRemaining).toBe(0);
      // Full (3 of 3): checking alone is still OK; one more hit is over; then checking reports over.
      expect((await service.shouldRateLimit(req([d([["user", "erin"]], { hitsAddend: 0 })]))).overallCode).toBe(Code.OK);
      expect((await service.shouldRateLimit(req([d([["user", "erin"]])]))).overallCode).toBe(Code.OVER_LIMIT);
      expect((await service.shouldRateLimit(req([d([["user", "erin"]], { hitsAddend: 0 })]))).overallCode).toBe(Code.OVER_LIMIT);
      expect(calls.map((c) => c.requests[0]?.hits)).toEqual([2, 0, 1, 0, 1, 0]);
      const big = await service.shouldRateLimit(req([d([["user", "frank"]], { hitsAddend: 4 })], { hitsAddend: 1 }));
      expect(big.statuses).toEqual([overStatus(3, MINUTE, 40)]);
    });

    it("a limit override from the request wins over the config", async () => {
      const { service, calls } = setup();
      const one = d([["user", "gina"]], { limit: { requestsPerUnit: 1, unit: SECOND } });
      expect((await service.shouldRateLimit(req([one]))).statuses).toEqual([okStatus(0, 1, SECOND, 1)]);
      expect((await service.shouldRateLimit(req([one]))).statuses).toEqual([overStatus(1, SECOND, 1)]);
      expect(calls[0]?.requests[0]).toEqual({ key: "svc_user_gina_", limit: 1, windowSeconds: 1, hits: 1, algorithm: "fixed_window", hashTag: "svc_user_gina_" });
    });

    it("replaces – a matched limit drops the limit it names for this request only", async () => {
      const { service, calls } = setup();
      const both = await service.shouldRateLimit(req([d([["plan", "basic"]]), d([["plan", "vip"]])]));
      expect(both.statuses).toEqual([NO_LIMIT, okStatus(99, 100, MINUTE, 40)]);
      expect(calls[0]?.requests.map((r) => r.key)).toEqual(["svc_plan_vip_"]);
      // Alone, basic_plan applies, and the request above did not count against it.
      expect((await service.shouldRateLimit(req([d([["plan", "basic"]])]))).statuses).toEqual([okStatus(0, 1, MINUTE, 40, "basic_plan")]);
      expect((await service.shouldRateLimit(req([d([["plan", "basic"]])]))).statuses).toEqual([overStatus(1, MINUTE, 40, "basic_plan")]);
      // An unlimited limit can replace too.
      const withFree = await service.shouldRateLimit(req([d([["plan", "basic"]]), d([["freeplus", "x"]])]));
      expect(withFree).toMatchObject({ overallCode: Code.OK, statuses: [NO_LIMIT, UNLIMITED] });
    });

    it("shadow_mode – over the limit is answered OK with remaining 0", async () => {
      const { service } = setup();
      await service.shouldRateLimit(req([d([["shadow", "a"]])]));
      const res = await service.shouldRateLimit(req([d([["shadow", "a"]]), d([["user", "hank"]])]));
      expect(res.overallCode).toBe(Code.OK);
      expect(res.statuses).toEqual([{ ...overStatus(1, MINUTE, 40), code: Code.OK }, okStatus(2, 3, MINUTE, 40)]);
    });

    it("global shadow mode – OVER_LIMIT overall becomes OK, statuses keep their codes", async () => {
      const { service } = setup({ shadowMode: true });
      const res = await service.shouldRateLimit(req([d([["blocked", "x"]])]));
      expect(res.overallCode).toBe(Code.OK);
      expect(res.statuses).toEqual([overStatus(0, SECOND, 1)]);
    });

    it("quota_mode – over only when every quota descriptor is over", async () => {
      const { service } = setup();
      expect((await service.shouldRateLimit(req([d([["quota_a", "q"]]), d([["quota_b", "q"]])]))).overallCode).toBe(Code.OK);
      const halfOver = await service.shouldRateLimit(req([d([["quota_a", "q"]]), d([["quota_b", "q"]])]));
      expect(halfOver.overallCode).toBe(Code.OK);
      expect(halfOver.statuses.map((s) => s.code)).toEqual([Code.OVER_LIMIT, Code.OK]);
      const allOver = await service.shouldRateLimit(req([d([["quota_a", "q"]]), d([["quota_b", "q"]])]));
      expect(allOver.overallCode).toBe(Code.OVER_LIMIT);
    });

    it("a descriptor sent twice counts twice on one counter", async () => {
      const { service, calls } = setup();
      const res = await service.shouldRateLimit(req([d([["user", "ivy"]]), d([["user", "ivy"]])]));
      expect(res.statuses).toEqual([okStatus(1, 3, MINUTE, 40), okStatus(1, 3, MINUTE, 40)]);
      expect(calls[0]?.requests).toEqual([{ key: "svc_user_ivy_", limit: 3, windowSeconds: 60, hits: 2, algorithm: "fixed_window", hashTag: "svc_user_ivy_" }]);
    });

    it("the same entries with two different overrides use two counters", async () => {
      const { service, calls } = setup();
      const res = await service.shouldRateLimit(
        req([d([["user", "jo"]], { limit: { requestsPerUnit: 5, unit: MINUTE } }), d([["user", "jo"]], { limit: { requestsPerUnit: 1, unit: MINUTE } })]),
      );
      expect(res.statuses).toEqual([okStatus(4, 5, MINUTE, 40), okStatus(0, 1, MINUTE, 40)]);
      expect(calls[0]?.requests.map((r) => r.key)).toEqual(["svc_user_jo_", "svc_user_jo_~MINUTE~1~fixed_window"]);
    });

    it("sliding_window and token_bucket limits reach the store with their algorithm; rejected hits do not count", async () => {
      const { service, calls } = setup();
      const codes: Code[] = [];
      for (let i = 0; i < 3; i++) codes.push((await service.shouldRateLimit(req([d([["sliding", "s"]]), d([["bucket", "b"]])]))).overallCode);
      expect(codes).toEqual([Code.OK, Code.OK, Code.OVER_LIMIT]);
      expect(calls[0]?.requests.map((r) => r.algorithm)).toEqual(["sliding_window", "token_bucket"]);
    });

    it("WEEK limits use a 7-day window and report unit 7", async () => {
      const { service, calls } = setup();
      const res = await service.shouldRateLimit(req([d([["weekly", "w"]])]));
      expect(res.statuses[0]?.currentLimit).toEqual({ name: "", requestsPerUnit: 1, unit: 7 });
      expect(calls[0]?.requests[0]?.windowSeconds).toBe(604_800);
    });

    it("headers – RateLimit-* describe the descriptor with the least remaining; Retry-After only when over", async () => {
      const { service } = setup({ headers: { enabled: true } });
      const res = await service.shouldRateLimit(req([d([["user", "kim"]]), d([["path", "/api/x"]]), d([["free", "x"]])]));
      expect(res.responseHeadersToAdd.map((h) => [h.key, h.value])).toEqual([
        ["ratelimit-limit", "2"],
        ["ratelimit-remaining", "1"],
        ["ratelimit-reset", "40"],
      ]);
      const over = await service.shouldRateLimit(req([d([["user", "kim"]]), d([["blocked", "x"]])]));
      expect(over.responseHeadersToAdd.map((h) => [h.key, h.value])).toEqual([
        ["ratelimit-limit", "0"],
        ["ratelimit-remaining", "0"],
        ["ratelimit-reset", "1"],
        ["retry-after", "1"],
      ]);
      expect((await service.shouldRateLimit(req([d([["free", "x"]])]))).responseHeadersToAdd).toEqual([]);
    });

    it("headers – names are configurable", async () => {
      const { service } = setup({ headers: { enabled: true, names: { limit: "X-RateLimit-Limit", retryAfter: "X-Retry" } } });
      const res = await service.shouldRateLimit(req([d([["blocked", "x"]])]));
      expect(res.responseHeadersToAdd.map((h) => h.key)).toEqual(["X-RateLimit-Limit", "ratelimit-remaining", "ratelimit-reset", "X-Retry"]);
    });
  });
}
