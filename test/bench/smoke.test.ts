import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLoad } from "../../bench/ghz.js";
import { CHECK_CALL, httpStatusOf, RLS_CALL } from "../../bench/grpc-call.js";
import { DEFAULT_LLM_PAYLOADS, DEFAULT_RLS_PAYLOADS, loadCheckPayloads, loadRlsPayloads, preparePolicyDir, writeGhzData } from "../../bench/payloads.js";
import { ensureTools, goAvailable } from "../../bench/tools.js";
import { BENCH_SECRETS } from "../../bench/fleet.js";
import { CheckRequest, CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { RateLimitRequest, RateLimitResponse, RateLimitServiceClient } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { startTestApp, type TestApp } from "../support/app.js";

const HAVE_GO = goAvailable();
if (!HAVE_GO) process.stderr.write("test/bench/smoke: skipped: `go` is not on PATH, so ghz cannot be built\n");

const CHECKS = 3000;
const RLS_CALLS = 2000;

describe.skipIf(!HAVE_GO)("bench harness smoke: ghz against a running tollgate (correctness, not speed)", () => {
  let ghz: string;
  let t: TestApp;
  let rls: InstanceType<typeof RateLimitServiceClient>;
  let work: string;
  const saved: Record<string, string | undefined> = {};
  const llm = loadCheckPayloads(DEFAULT_LLM_PAYLOADS);
  const rlsPayloads = loadRlsPayloads(DEFAULT_RLS_PAYLOADS);

  beforeAll(async () => {
    // The first run builds ghz from its Go module into bench/.bin; later runs reuse it.
    ghz = (await ensureTools(["ghz"])).ghz;
    for (const [k, v] of Object.entries(BENCH_SECRETS)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    work = mkdtempSync(path.join(os.tmpdir(), "tollgate-bench-smoke-"));
    const policies = preparePolicyDir({ policies: "policies", ...(llm.dataPatch ? { dataPatch: llm.dataPatch } : {}), tmpDir: work });
    t = await startTestApp(policies, { redisUrl: process.env["TOLLGATE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379", ratelimitConfig: "ratelimit", logLevel: "warn" });
    rls = new RateLimitServiceClient(`127.0.0.1:${t.app.grpcPort}`, credentials.createInsecure());
  }, 600_000);

  afterAll(async () => {
    rls?.close();
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });

  it("every shipped-policy payload gets its expected HTTP status through a real gRPC Check", async () => {
    for (const p of llm.payloads) {
      const res = await t.check(CheckRequest.fromJSON(p.request));
      expect({ name: p.name, status: httpStatusOf(CheckResponse.toJSON(res) as Record<string, unknown>) }).toEqual({ name: p.name, status: p.expectStatus });
    }
  });

  it(`${CHECKS} Checks through ghz – all gRPC OK, zero errors`, async () => {
    const data = writeGhzData({ payloads: llm.payloads, file: path.join(work, "check.json") });
    const r = await runLoad({ ghz, addr: `127.0.0.1:${t.app.grpcPort}`, call: CHECK_CALL, dataFile: data, concurrency: 16, connections: 1, total: CHECKS, cpu: undefined, outFile: path.join(work, "check-out.json") });
    expect({ count: r.count, errors: r.errors, statusCodes: r.statusCodes, cutAtEnd: r.cutAtEnd }).toEqual({ count: CHECKS, errors: {}, statusCodes: { OK: CHECKS }, cutAtEnd: 0 });
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
  });

  it(`${RLS_CALLS} ShouldRateLimit calls with 3 descriptors through ghz – all gRPC OK, zero errors; answers stay OK or OVER_LIMIT`, async () => {
    const data = writeGhzData({ payloads: rlsPayloads, file: path.join(work, "rls.json") });
    const r = await runLoad({ ghz, addr: `127.0.0.1:${t.app.grpcPort}`, call: RLS_CALL, dataFile: data, concurrency: 16, connections: 1, total: RLS_CALLS, cpu: undefined, outFile: path.join(work, "rls-out.json") });
    expect({ count: r.count, errors: r.errors, statusCodes: r.statusCodes }).toEqual({ count: RLS_CALLS, errors: {}, statusCodes: { OK: RLS_CALLS } });
    for (const p of rlsPayloads) {
      const res = await new Promise<RateLimitResponse>((resolve, reject) =>
        rls.shouldRateLimit(RateLimitRequest.fromJSON(p.request), (err: ServiceError | null, out?: RateLimitResponse) => (err ? reject(err) : resolve(out!))),
      );
      expect(res.statuses).toHaveLength(3);
      // 1 = OK, 2 = OVER_LIMIT: after 2,000 calls the 20/s per-address guard and acme's 60/min are spent.
      expect([1, 2]).toContain(res.overallCode);
    }
  });
});
