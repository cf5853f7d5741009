import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { createRedisLimitStore } from "../../src/limits/redis/redis-store.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { Clients, descriptor, Processes, rlsRequest, roomInWindow, summarize, tempDir } from "./support.js";

const PROCESSES = 4;
const CALLS = 2000;
const LIMIT = 500;
const HOUR = 3600;
/**
 * Exactness needs every answer to come from Redis: a call past the command timeout is answered by
 * its failure_mode (allow), though Redis may still count it. The 50 ms default usually holds for
 * this burst; 5 s keeps the test deterministic on a loaded machine, where it measures atomicity,
 * not latency.
 */
const COMMAND_TIMEOUT_MS = "5000";
const CALL_DEADLINE_MS = 30_000;

const RATELIMIT_YAML = `
domain: e2e
descriptors:
  - key: run
    rate_limit: {unit: hour, requests_per_unit: ${LIMIT}}
`;

// Every Check is allowed by the policy and carries one limit keyed by the x-run header.
const POLICY = `package envoy.authz

allow := {
	"allowed": true,
	"limits": [{"key": concat(":", ["exact", input.attributes.request.http.headers["x-run"]]), "limit": ${LIMIT}, "window": ${HOUR}, "name": "run"}],
	"limited_body": "slow down",
}
`;

let redis: RedisServer;
let raw: Redis;
let policyDir: string;
let ratelimitDir: string;
const processes = new Processes();
const clients: Clients[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
  policyDir = tempDir("exact-policy", { "p.rego": POLICY });
  ratelimitDir = tempDir("exact-rl", { "e2e.yaml": RATELIMIT_YAML });
  const args = ["--policies", policyDir, "--no-watch", "--no-policy-tests", "--redis-url", redis.url, "--ratelimit-config", ratelimitDir];
  // One after another: four policy builds at once can take longer than a start may on a loaded 2-core machine.
  for (let i = 0; i < PROCESSES; i++) clients.push(new Clients((await processes.start(args, { TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: COMMAND_TIMEOUT_MS })).port));
  // Connect every channel before the bursts, so they measure calls, not connection setup.
  await Promise.all(clients.map((c) => c.shouldRateLimit(rlsRequest("e2e", [descriptor(["warmup", "x"])]))));
  await Promise.all(clients.map((c) => c.check({ path: "/warmup", headers: { "x-run": `warmup-${randomUUID()}` } })));
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await processes.stopAll();
  raw?.disconnect();
  await redis?.stop();
  rmSync(policyDir, { recursive: true, force: true });
  rmSync(ratelimitDir, { recursive: true, force: true });
});

/** Fires all calls at once, round-robin over the processes, and waits for every answer. */
function burst<T>(call: (client: Clients, i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: CALLS }, (_, i) => call(clients[i % PROCESSES]!, i)));
}

/** The store's fixed-window key: prefix, hash tag, counter key, window start. */
async function counterValue(pattern: string): Promise<string[]> {
  const keys = await raw.keys(pattern);
  return Promise.all(keys.map(async (k) => (await raw.get(k)) ?? "missing"));
}

describe(`${PROCESSES} tollgate processes sharing one Redis`, () => {
  it(`ShouldRateLimit – ${CALLS} concurrent calls against a limit of ${LIMIT} answer exactly ${LIMIT} OK and ${CALLS - LIMIT} OVER_LIMIT`, async () => {
    const run = randomUUID();
    await roomInWindow(HOUR, 20_000);
    const responses = await burst((c) => c.shouldRateLimit(rlsRequest("e2e", [descriptor(["run", run])]), CALL_DEADLINE_MS));

    const ok = responses.filter((r) => r.overallCode === Code.OK);
    const over = responses.filter((r) => r.overallCode === Code.OVER_LIMIT);
    expect(ok).toHaveLength(LIMIT);
    expect(over).toHaveLength(CALLS - LIMIT);
    // Each admitted call saw a distinct count: remaining runs through 499..0 exactly once.
    expect(ok.map((r) => r.statuses[0]?.limitRemaining).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: LIMIT }, (_, i) => i));
    // Every answer came from the counter (a store failure would answer without a reset time).
    for (const r of responses) {
      expect(r.statuses[0]?.currentLimit?.requestsPerUnit).toBe(LIMIT);
      expect(r.statuses[0]?.durationUntilReset?.seconds).toBeGreaterThan(0);
    }
    for (const r of over) expect(r.statuses[0]?.limitRemaining).toBe(0);
    // As envoyproxy/ratelimit, the fixed window counts every hit, over-limit ones too.
    expect(await counterValue(`tollgate:{e2e_run_${run}_}:*`)).toEqual([String(CALLS)]);
  }, 60_000);

  it(`Check with a policy-declared limit – exactly ${LIMIT} allowed, the rest 429 with Retry-After and the policy's body`, async () => {
    const run = randomUUID();
    await roomInWindow(HOUR, 20_000);
    const answers = (await burst((c) => c.check({ path: "/v1/chat", headers: { "x-run": run } }, CALL_DEADLINE_MS))).map(summarize);

    const allowed = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(allowed).toHaveLength(LIMIT);
    expect(limited).toHaveLength(CALLS - LIMIT);
    expect(allowed.map((a) => a.limits?.["run"]?.remaining).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: LIMIT }, (_, i) => i));
    for (const a of allowed) {
      expect(a.headers["ratelimit-limit"]).toEqual([String(LIMIT)]);
      expect(a.headers["retry-after"]).toBeUndefined();
    }
    for (const a of limited) {
      expect(a.body).toBe("slow down");
      expect(a.headers["ratelimit-remaining"]).toEqual(["0"]);
      const retryAfter = Number(a.headers["retry-after"]?.[0]);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(HOUR);
      expect(a.headers["ratelimit-reset"]).toEqual([String(retryAfter)]);
    }
    expect(await counterValue(`tollgate:*exact:${run}:*`)).toEqual([String(CALLS)]);
  }, 60_000);

  it("no process crashed, logged an error or met a store failure", () => {
    expect(processes.exited()).toEqual([]);
    const bad = processes.warnings().filter((w) => w["event"] === "limit_store_unavailable" || Number(w["level"] ?? 60) >= 50);
    expect(bad).toEqual([]);
  });
});

describe("a busy event loop", () => {
  it("a reply that arrived while the loop was blocked past the 50 ms deadline still answers (no spurious fail-open)", async () => {
    const store = createRedisLimitStore({ url: redis.url, keyPrefix: `busy:${randomUUID()}:`, commandTimeoutMs: 50 });
    try {
      await store.waitUntilReady(2000);
      const answer = store.apply([{ key: "k", limit: 5, windowSeconds: HOUR, hits: 1, algorithm: "fixed_window" }], { hashTag: "busy" });
      // Block the loop well past the deadline; Redis answers meanwhile, so the reply waits in the socket.
      const until = performance.now() + 200;
      while (performance.now() < until) {
        // busy wait
      }
      await expect(answer).resolves.toEqual([{ over: false, remaining: 4, resetSeconds: expect.any(Number) as number }]);
    } finally {
      await store.close();
    }
  });
});
