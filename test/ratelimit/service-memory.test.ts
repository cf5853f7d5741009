import { describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { RateLimitResponse_Code as Code, RateLimitResponse_RateLimit_Unit as Unit } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { MemoryLimitStore } from "../../src/limits/memory/memory-store.js";
import type { LimitStore } from "../../src/limits/types.js";
import { loadConfigFromSources } from "../../src/ratelimit/config/load.js";
import type { RateLimitRequestWithAddends } from "../../src/ratelimit/request.js";
import { RateLimitService } from "../../src/ratelimit/service.js";
import { captureLogger, d, ManualClock, req, serviceConfig } from "./helpers.js";
import { describeServiceSemantics } from "./service-suite.js";

describeServiceSemantics("the memory store", (clock) => new MemoryLimitStore({ clock }));

function service(store: LimitStore = new MemoryLimitStore({ clock: new ManualClock() }), extra: { bounds?: { maxDescriptors: number } } = {}) {
  const { logger, lines } = captureLogger();
  const config = serviceConfig();
  const modes: string[] = [];
  return { svc: new RateLimitService({ config: () => config, store, logger, clock: new ManualClock(), onFailureMode: (mode) => modes.push(mode), ...extra }), lines, modes };
}

describe("bad requests are refused with request_parse_error (INVALID_ARGUMENT), never a crash", () => {
  const long = "v".repeat(4097);
  const cases: [title: string, request: unknown, message: string][] = [
    ["empty domain", req([d([["user", "x"]])], { domain: "" }), "rate limit domain must not be empty"],
    ["no descriptors", req([]), "rate limit descriptor list must not be empty"],
    ["descriptors missing", { domain: "svc", hitsAddend: 0 }, "rate limit descriptor list must not be empty"],
    ["not an object", null, "rate limit request must be an object"],
    ["65 descriptors", req(Array.from({ length: 65 }, () => d([["user", "x"]]))), "65 descriptors, more than the limit of 64"],
    ["a descriptor without entries", req([d([])]), "descriptors[0] has no entries"],
    ["33 entries", req([d(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"] as [string, string]))]), "descriptors[0] has 33 entries, more than the limit of 32"],
    ["an empty entry key", req([d([["user", "x"]]), d([["", "x"]])]), "descriptors[1].entries[0].key must not be empty"],
    ["a value over 4096 bytes", req([d([["user", long]])]), "descriptors[0].entries[0].value is 4097 bytes, more than the limit of 4096"],
    ["a value over 4096 bytes in UTF-8", req([d([["user", "é".repeat(2049)]])]), "descriptors[0].entries[0].value is 4098 bytes, more than the limit of 4096"],
    ["a key over 512 bytes", req([d([["k".repeat(513), "x"]])]), "descriptors[0].entries[0].key is 513 bytes, more than the limit of 512"],
    ["a domain over 512 bytes", req([d([["user", "x"]])], { domain: "d".repeat(513) }), "domain is 513 bytes, more than the limit of 512"],
    ["a value that is not a string", req([{ entries: [{ key: "user", value: 5 as unknown as string }], limit: undefined }]), "descriptors[0].entries[0].value must be a string"],
    ["a descriptor hits_addend above uint32", req([d([["user", "x"]], { hitsAddend: 4294967296 })]), "descriptors[0].hits_addend must be an integer from 0 to 4294967295"],
    ["a negative request hits_addend", req([d([["user", "x"]])], { hitsAddend: -1 }), "hits_addend must be an integer from 0 to 4294967295"],
    [
      "a fractional override",
      req([d([["user", "x"]], { limit: { requestsPerUnit: 1.5, unit: Unit.SECOND } })]),
      "descriptors[0].limit.requests_per_unit must be an integer from 0 to 4294967295",
    ],
    ["an override with unit UNKNOWN", req([d([["user", "x"]], { limit: { requestsPerUnit: 1, unit: Unit.UNKNOWN } })]), "descriptor limit override has unknown unit 0"],
  ];

  it.each(cases)("%s", async (_title, request, message) => {
    const { svc } = service();
    const err = await svc.shouldRateLimit(request as RateLimitRequestWithAddends).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TollgateError);
    expect(err).toMatchObject({ code: "request_parse_error", message, grpcStatus: 3 });
  });

  it("bounds are configurable", async () => {
    const { svc } = service(undefined, { bounds: { maxDescriptors: 2 } });
    await expect(svc.shouldRateLimit(req([d([["a", "1"]]), d([["b", "2"]]), d([["c", "3"]])]))).rejects.toMatchObject({
      message: "3 descriptors, more than the limit of 2",
    });
    expect((await svc.shouldRateLimit(req([d([["a", "1"]]), d([["b", "2"]])]))).overallCode).toBe(Code.OK);
  });
});

describe("failure modes when the store is unavailable", () => {
  it("each descriptor follows its failure_mode; the outage is logged and counted", async () => {
    const store = new MemoryLimitStore({});
    await store.close();
    const { svc, lines, modes } = service(store);
    const res = await svc.shouldRateLimit(req([d([["strict", "s"]]), d([["user", "u"]]), d([["free", "f"]]), d([["none", "n"]])]));
    expect(res.overallCode).toBe(Code.OVER_LIMIT);
    expect(res.statuses).toEqual([
      { code: Code.OVER_LIMIT, currentLimit: { name: "", requestsPerUnit: 5, unit: Unit.MINUTE }, limitRemaining: 0, durationUntilReset: undefined, quota: undefined },
      { code: Code.OK, currentLimit: { name: "", requestsPerUnit: 3, unit: Unit.MINUTE }, limitRemaining: 0, durationUntilReset: undefined, quota: undefined },
      { code: Code.OK, currentLimit: undefined, limitRemaining: 4294967295, durationUntilReset: undefined, quota: undefined },
      { code: Code.OK, currentLimit: undefined, limitRemaining: 0, durationUntilReset: undefined, quota: undefined },
    ]);
    expect(modes.sort()).toEqual(["allow", "deny"]);
    const line = lines.find((l) => l["event"] === "limit_store_unavailable");
    expect(line).toMatchObject({
      level: 40,
      reason: "limit_store_unavailable",
      domain: "svc",
      store: "memory",
      descriptorsAllowed: 1,
      descriptorsDenied: 1,
      err: "memory limit store is closed",
    });
  });

  it("allow is the default: a request of allow descriptors is OK, and carries no rate limit headers", async () => {
    const store = new MemoryLimitStore({});
    await store.close();
    const { logger } = captureLogger();
    const config = serviceConfig();
    const svc = new RateLimitService({ config: () => config, store, logger, headers: { enabled: true } });
    const res = await svc.shouldRateLimit(req([d([["user", "u"]]), d([["path", "/api/v1"]])]));
    expect(res.overallCode).toBe(Code.OK);
    expect(res.responseHeadersToAdd).toEqual([]);
  });

  it("failure_mode deny set on the domain applies to its limits and to request overrides", async () => {
    const config = loadConfigFromSources([{ name: "deny.yaml", text: "domain: d\nfailure_mode: deny\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 9}\n" }]);
    const store = new MemoryLimitStore({});
    await store.close();
    const { logger } = captureLogger();
    const svc = new RateLimitService({ config: () => config, store, logger });
    const res = await svc.shouldRateLimit(req([d([["k", "1"]]), d([["other", "2"]], { limit: { requestsPerUnit: 1, unit: Unit.HOUR } })], { domain: "d" }));
    expect(res.statuses.map((s) => s.code)).toEqual([Code.OVER_LIMIT, Code.OVER_LIMIT]);
  });

  it("a shadow_mode limit stays OK even when its failure_mode denies", async () => {
    const config = loadConfigFromSources([
      { name: "s.yaml", text: "domain: d\ndescriptors:\n  - key: k\n    shadow_mode: true\n    rate_limit: {unit: second, requests_per_unit: 9, failure_mode: deny}\n" },
    ]);
    const store = new MemoryLimitStore({});
    await store.close();
    const { logger } = captureLogger();
    const svc = new RateLimitService({ config: () => config, store, logger });
    expect((await svc.shouldRateLimit(req([d([["k", "1"]])], { domain: "d" }))).overallCode).toBe(Code.OK);
  });

  it("any other store error is not masked by failure modes", async () => {
    const broken: LimitStore = {
      kind: "memory",
      apply: () => Promise.reject(new TollgateError("internal_error", "boom")),
      reconcile: () => Promise.reject(new TollgateError("internal_error", "boom")),
      peek: () => Promise.reject(new TollgateError("internal_error", "boom")),
      close: () => Promise.resolve(),
    };
    const { svc } = service(broken);
    await expect(svc.shouldRateLimit(req([d([["user", "u"]])]))).rejects.toMatchObject({ code: "internal_error", message: "boom" });
    const short: LimitStore = { kind: "memory", apply: () => Promise.resolve([]), reconcile: () => Promise.resolve([]), peek: () => Promise.resolve([]), close: () => Promise.resolve() };
    await expect(service(short).svc.shouldRateLimit(req([d([["user", "u"]])]))).rejects.toMatchObject({
      code: "internal_error",
      message: "limit store answered 0 outcomes for 1 limits",
    });
  });
});

describe("configuration", () => {
  it("without a loaded config every call fails with config_error (FAILED_PRECONDITION)", async () => {
    const { logger } = captureLogger();
    const svc = new RateLimitService({ config: () => undefined, store: new MemoryLimitStore({}), logger });
    await expect(svc.shouldRateLimit(req([d([["user", "u"]])]))).rejects.toMatchObject({
      code: "config_error",
      message: "no rate limit configuration loaded",
      grpcStatus: 9,
    });
  });

  it("each call reads the current config, so a reload applies to the next call", async () => {
    const { logger } = captureLogger();
    let config = serviceConfig();
    const svc = new RateLimitService({ config: () => config, store: new MemoryLimitStore({ clock: new ManualClock() }), logger, clock: new ManualClock() });
    expect((await svc.shouldRateLimit(req([d([["user", "u"]])]))).statuses[0]?.currentLimit?.requestsPerUnit).toBe(3);
    config = loadConfigFromSources([{ name: "n.yaml", text: "domain: svc\ndescriptors:\n  - key: user\n    rate_limit: {unit: minute, requests_per_unit: 50}\n" }]);
    expect((await svc.shouldRateLimit(req([d([["user", "u"]])]))).statuses[0]).toMatchObject({ limitRemaining: 48, currentLimit: { requestsPerUnit: 50 } });
  });
});
