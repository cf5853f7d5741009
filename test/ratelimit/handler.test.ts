import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitDescriptor_Entry } from "../../src/gen/envoy/extensions/common/ratelimit/v3/ratelimit.js";
import {
  RateLimitRequest,
  RateLimitResponse,
  RateLimitResponse_Code as Code,
  RateLimitServiceClient,
} from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { MemoryLimitStore } from "../../src/limits/memory/memory-store.js";
import type { RateLimitConfig } from "../../src/ratelimit/config/types.js";
import { decodeRateLimitRequest } from "../../src/ratelimit/handler.js";
import { GrpcServer } from "../../src/server/grpc-server.js";
import { TollgateError } from "../../src/errors.js";
import { RateLimitService } from "../../src/ratelimit/service.js";
import { captureLogger, ManualClock, serviceConfig } from "./helpers.js";

/** Encodes a RateLimitRequest by hand, so descriptors can carry hits_addend (field 3). */
function encodeRaw(p: { domain: string; descriptors: { entries: [string, string][]; addend?: number | "empty" }[]; hitsAddend?: number }): Buffer {
  const w = new BinaryWriter();
  w.uint32((1 << 3) | 2).string(p.domain);
  for (const desc of p.descriptors) {
    const dw = new BinaryWriter();
    for (const [key, value] of desc.entries) RateLimitDescriptor_Entry.encode({ key, value }, dw.uint32((1 << 3) | 2).fork()).join();
    // An unknown field the decoder must skip.
    dw.uint32((9 << 3) | 0).uint32(77);
    if (desc.addend === "empty") dw.uint32((3 << 3) | 2).bytes(new Uint8Array());
    else if (desc.addend !== undefined) dw.uint32((3 << 3) | 2).fork().uint32((1 << 3) | 0).uint64(desc.addend).join();
    w.uint32((2 << 3) | 2).bytes(dw.finish());
  }
  if (p.hitsAddend !== undefined) w.uint32((3 << 3) | 0).uint32(p.hitsAddend);
  return Buffer.from(w.finish());
}

describe("decodeRateLimitRequest", () => {
  it("keeps each descriptor's hits_addend, absent, empty (0) or set, next to the generated fields", () => {
    const bytes = encodeRaw({
      domain: "svc",
      hitsAddend: 4,
      descriptors: [{ entries: [["a", "1"]] }, { entries: [["b", "2"]], addend: "empty" }, { entries: [["c", "3"], ["d", "4"]], addend: 5 }],
    });
    const req = decodeRateLimitRequest(bytes);
    expect(req).toEqual({
      domain: "svc",
      hitsAddend: 4,
      descriptors: [
        { entries: [{ key: "a", value: "1" }], limit: undefined },
        { entries: [{ key: "b", value: "2" }], limit: undefined, hitsAddend: { value: 0 } },
        { entries: [{ key: "c", value: "3" }, { key: "d", value: "4" }], limit: undefined, hitsAddend: { value: 5 } },
      ],
    });
  });

  it("matches the generated decoder on messages without the new field", () => {
    const bytes = Buffer.from(
      RateLimitRequest.encode({ domain: "x", hitsAddend: 2, descriptors: [{ entries: [{ key: "k", value: "v" }], limit: { requestsPerUnit: 3, unit: 2 } }] }).finish(),
    );
    expect(decodeRateLimitRequest(bytes)).toEqual(RateLimitRequest.decode(bytes));
  });

  it("finds hits_addend past unknown fields of every wire type, groups included, and the last occurrence wins", () => {
    const dw = new BinaryWriter();
    RateLimitDescriptor_Entry.encode({ key: "k", value: "v" }, dw.uint32((1 << 3) | 2).fork()).join();
    dw.uint32((10 << 3) | 1).fixed64(123n); // fixed64
    dw.uint32((11 << 3) | 5).fixed32(7); // fixed32
    dw.uint32((12 << 3) | 3).uint32((1 << 3) | 0).uint32(300).uint32((13 << 3) | 3).uint32((13 << 3) | 4).uint32((12 << 3) | 4); // a group, nested
    dw.uint32((3 << 3) | 2).fork().uint32((1 << 3) | 0).uint64(9).join();
    dw.uint32((3 << 3) | 2).fork().uint32((2 << 3) | 0).uint32(1).uint32((1 << 3) | 0).uint64(300).join();
    const w = new BinaryWriter();
    w.uint32((1 << 3) | 2).string("svc");
    w.uint32((7 << 3) | 2).bytes(new Uint8Array([1, 2, 3])); // unknown top-level field
    w.uint32((2 << 3) | 2).bytes(dw.finish());
    w.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string("a").join().join();
    const bytes = Buffer.from(w.finish());
    const req = decodeRateLimitRequest(bytes);
    expect(req.descriptors.map((d) => d.hitsAddend)).toEqual([{ value: 300 }, undefined]);
    expect({ ...req, descriptors: req.descriptors.map(({ hitsAddend: _, ...d }) => d) }).toEqual(RateLimitRequest.decode(bytes));
  });

  it("a hits_addend beyond 2^53 decodes to a number the service then rejects", () => {
    const req = decodeRateLimitRequest(encodeRaw({ domain: "svc", descriptors: [{ entries: [["a", "1"]], addend: 2 ** 60 }] }));
    expect(req.descriptors[0]?.hitsAddend?.value).toBeGreaterThan(4294967295);
  });
});

describe("ShouldRateLimit over gRPC (tollgate's own gRPC server)", () => {
  let server: GrpcServer;
  let client: InstanceType<typeof RateLimitServiceClient>;
  let current: RateLimitConfig | undefined = serviceConfig();

  beforeAll(async () => {
    const { logger } = captureLogger();
    const clock = new ManualClock();
    const service = new RateLimitService({ config: () => current, store: new MemoryLimitStore({ clock }), logger, clock, headers: { enabled: true } });
    server = new GrpcServer({
      addr: "127.0.0.1:0",
      maxMessageBytes: 4 * 1024 * 1024,
      logger,
      check: () => Promise.reject(new TollgateError("config_error", "not under test")),
      shouldRateLimit: (req) => service.shouldRateLimit(req),
    });
    const port = await server.start();
    client = new RateLimitServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  afterAll(async () => {
    client.close();
    await server.drain(1000);
  });

  function call(request: RateLimitRequest): Promise<RateLimitResponse> {
    return new Promise((resolve, reject) => client.shouldRateLimit(request, (err, res) => (err ? reject(err) : resolve(res))));
  }

  function callRaw(bytes: Buffer): Promise<RateLimitResponse> {
    return new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
        (b: Buffer) => b,
        (b: Buffer) => RateLimitResponse.decode(b),
        bytes,
        (err: ServiceError | null, res?: RateLimitResponse) => (err || !res ? reject(err ?? new Error("no response")) : resolve(res)),
      ),
    );
  }

  it("answers with statuses and rate limit headers", async () => {
    const res = await call({ domain: "svc", hitsAddend: 0, descriptors: [{ entries: [{ key: "user", value: "grpc" }], limit: undefined }] });
    expect(res.overallCode).toBe(Code.OK);
    expect(res.statuses).toHaveLength(1);
    expect(res.statuses[0]).toMatchObject({ code: Code.OK, limitRemaining: 2, currentLimit: { requestsPerUnit: 3, unit: 2 }, durationUntilReset: { seconds: 40 } });
    expect(res.responseHeadersToAdd.map((h) => `${h.key}: ${h.value}`)).toEqual(["ratelimit-limit: 3", "ratelimit-remaining: 2", "ratelimit-reset: 40"]);
  });

  it("a per-descriptor hits_addend on the wire is honoured: 0 checks without counting, 2 counts twice", async () => {
    const check = await callRaw(encodeRaw({ domain: "svc", descriptors: [{ entries: [["user", "wire"]], addend: 0 }] }));
    expect(check.statuses[0]?.limitRemaining).toBe(3);
    const two = await callRaw(encodeRaw({ domain: "svc", hitsAddend: 1, descriptors: [{ entries: [["user", "wire"]], addend: 2 }] }));
    expect(two.statuses[0]?.limitRemaining).toBe(1);
  });

  it("OVER_LIMIT travels as a normal response, with Retry-After", async () => {
    const res = await call({ domain: "svc", hitsAddend: 0, descriptors: [{ entries: [{ key: "blocked", value: "x" }], limit: undefined }] });
    expect(res.overallCode).toBe(Code.OVER_LIMIT);
    expect(res.responseHeadersToAdd.map((h) => h.key)).toContain("retry-after");
  });

  it.each([
    ["empty domain", { domain: "", hitsAddend: 0, descriptors: [{ entries: [{ key: "a", value: "b" }], limit: undefined }] }, status.INVALID_ARGUMENT, "request_parse_error: rate limit domain must not be empty"],
    ["no descriptors", { domain: "svc", hitsAddend: 0, descriptors: [] }, status.INVALID_ARGUMENT, "request_parse_error: rate limit descriptor list must not be empty"],
  ] as [string, RateLimitRequest, status, string][])("%s – gRPC status %i with the reason", async (_title, request, code, details) => {
    await expect(call(request)).rejects.toMatchObject({ code, details });
  });

  it("a hits_addend above uint32 on the wire is INVALID_ARGUMENT", async () => {
    await expect(callRaw(encodeRaw({ domain: "svc", descriptors: [{ entries: [["user", "x"]], addend: 2 ** 33 }] }))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "request_parse_error: descriptors[0].hits_addend must be an integer from 0 to 4294967295",
    });
  });

  it("without a config the call fails with FAILED_PRECONDITION", async () => {
    const saved = current;
    current = undefined;
    try {
      await expect(call({ domain: "svc", hitsAddend: 0, descriptors: [{ entries: [{ key: "a", value: "b" }], limit: undefined }] })).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: "config_error: no rate limit configuration loaded",
      });
    } finally {
      current = saved;
    }
  });
});
