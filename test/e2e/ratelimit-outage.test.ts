import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code, type RateLimitResponse } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { waitFor } from "../support/wait.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { Clients, descriptor, Processes, rlsRequest, roomInWindow, sleep, summarize, tempDir, type CheckSummary } from "./support.js";

/**
 * Client-side bound for every call, outage or not. On a loaded machine the client, the server and
 * Redis all wait for a core, so a call may also take as long as a control call that never touches
 * the store (a descriptor no rule matches) took at the same moment: see withinBound.
 */
const MAX_CALL_MS = 300;
/**
 * The store's deadline. The 50 ms default holds on an idle machine; on a loaded CI box a healthy
 * call now and then misses it and is answered by its failure_mode, which this test would count as
 * "not back yet". 150 ms still leaves the 300 ms bound room.
 */
const COMMAND_TIMEOUT_MS = "150";
const RECOVERY_MS = 1000;
const HOUR = 3600;
const BIG = 1_000_000;

// Two limits per service, one per failure mode; both far from their limit while Redis is up.
const RATELIMIT_YAML = `
domain: outage
descriptors:
  - key: open
    rate_limit: {unit: hour, requests_per_unit: ${BIG}}
  - key: closed
    rate_limit: {unit: hour, requests_per_unit: ${BIG}, failure_mode: deny}
  - key: small
    rate_limit: {unit: hour, requests_per_unit: 3}
`;

const POLICY = `package envoy.authz

run := input.attributes.request.http.headers["x-run"]

mode := input.parsed_path[0]

allow := {
	"allowed": true,
	"limits": [{"key": sprintf("%s:%s", [mode, run]), "limit": ${BIG}, "window": ${HOUR}, "failure_mode": mode, "name": "n"}],
}
`;

const KINDS = ["rls-allow", "rls-deny", "check-allow", "check-deny"] as const;
type Kind = (typeof KINDS)[number] | "control";

/** How one call ended: answered from the counter, answered by its failure_mode, or anything else. */
type Result = "counted" | "failure-mode" | `unexpected: ${string}`;

interface Call {
  kind: Kind;
  startedAt: number;
  ms: number;
  result: Result;
  /** Remaining on the counter, when counted. */
  remaining?: number;
}

function classifyRls(kind: Kind, res: RateLimitResponse): { result: Result; remaining?: number } {
  const s = res.statuses[0];
  if (s?.durationUntilReset && res.overallCode === Code.OK) return { result: "counted", remaining: s.limitRemaining };
  const expected = kind === "rls-allow" ? Code.OK : Code.OVER_LIMIT;
  if (!s?.durationUntilReset && res.overallCode === expected && s?.limitRemaining === 0) return { result: "failure-mode" };
  return { result: `unexpected: ${JSON.stringify(res)}` };
}

function classifyCheck(kind: Kind, a: CheckSummary): { result: Result; remaining?: number } {
  const usage = a.limits?.["n"];
  if (a.status === 200 && usage) return { result: "counted", remaining: usage.remaining };
  const fallback = kind === "check-allow" ? a.status === 200 && a.headers["ratelimit-limit"] === undefined : a.status === 503 && a.body === "rate limit store unavailable";
  if (fallback && a.limits !== undefined && Object.keys(a.limits).length === 0) return { result: "failure-mode" };
  return { result: `unexpected: ${JSON.stringify(a)}` };
}

/** One sequential loop per kind, each call on its own counter key, until stopped. */
function traffic(clients: Clients, run: string): { calls: Call[]; stop: () => Promise<void> } {
  const calls: Call[] = [];
  let running = true;
  const loop = async (kind: Kind): Promise<void> => {
    while (running) {
      const startedAt = performance.now();
      let outcome: { result: Result; remaining?: number };
      try {
        if (kind === "control") {
          const res = await clients.shouldRateLimit(rlsRequest("outage", [descriptor(["unmatched", run])]), 2000);
          outcome = { result: res.overallCode === Code.OK ? "counted" : `unexpected: ${JSON.stringify(res)}` };
        } else if (kind === "rls-allow" || kind === "rls-deny") {
          const key = kind === "rls-allow" ? "open" : "closed";
          outcome = classifyRls(kind, await clients.shouldRateLimit(rlsRequest("outage", [descriptor([key, run])]), 2000));
        } else {
          const mode = kind === "check-allow" ? "allow" : "deny";
          outcome = classifyCheck(kind, summarize(await clients.check({ path: `/${mode}`, headers: { "x-run": run } }, 2000)));
        }
      } catch (err: unknown) {
        outcome = { result: `unexpected: ${err instanceof Error ? err.message : String(err)}` };
      }
      calls.push({ kind, startedAt, ms: performance.now() - startedAt, ...outcome });
      await sleep(5);
    }
  };
  const loops = [...KINDS, "control" as const].map(loop);
  return {
    calls,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * The calls slower than MAX_CALL_MS plus the slowest control call that overlapped them: a stall the
 * store-free control shared is the machine's, one it did not share is tollgate's.
 */
function overBound(calls: Call[]): string[] {
  const controls = calls.filter((c) => c.kind === "control");
  return calls
    .filter((c) => c.kind !== "control" && c.ms >= MAX_CALL_MS)
    .filter((c) => {
      const end = c.startedAt + c.ms;
      const shared = Math.max(0, ...controls.filter((k) => k.startedAt < end && k.startedAt + k.ms > c.startedAt).map((k) => k.ms));
      return c.ms >= MAX_CALL_MS + shared;
    })
    .map((c) => `${c.kind} took ${Math.round(c.ms)} ms`);
}

/** Each loop's counted remaining values, in order, must fall by exactly one per call. */
function expectConsecutive(calls: Call[]): void {
  const remaining = calls.filter((c) => c.result === "counted").map((c) => c.remaining ?? -1);
  expect(remaining.length).toBeGreaterThan(0);
  expect(remaining).toEqual(Array.from({ length: remaining.length }, (_, i) => (remaining[0] ?? 0) - i));
}

let redis: RedisServer;
let policyDir: string;
let ratelimitDir: string;
let clients: Clients;
const processes = new Processes();

beforeAll(async () => {
  redis = await startRedisServer();
  policyDir = tempDir("outage-policy", { "p.rego": POLICY });
  ratelimitDir = tempDir("outage-rl", { "outage.yaml": RATELIMIT_YAML });
  const served = await processes.start(
    ["--policies", policyDir, "--no-watch", "--no-policy-tests", "--redis-url", redis.url, "--ratelimit-config", ratelimitDir],
    { TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: COMMAND_TIMEOUT_MS },
  );
  clients = new Clients(served.port);
}, 60_000);

afterAll(async () => {
  clients?.close();
  await processes.stopAll();
  await redis?.stop();
  rmSync(policyDir, { recursive: true, force: true });
  rmSync(ratelimitDir, { recursive: true, force: true });
});

describe("Redis killed under continuous ShouldRateLimit and Check traffic", () => {
  it("every call answers within 300 ms by its failure_mode; the process survives; counting resumes within 1 s of the restart", async () => {
    const run = randomUUID();
    await roomInWindow(HOUR, 15_000);
    const load = traffic(clients, run);
    // Each phase lasts at least its nominal time and until every loop has enough calls in it: a
    // loaded machine makes fewer calls per second, never a phase too thin to judge.
    const enough = (from: number, n: number) => () => KINDS.every((k) => load.calls.filter((c) => c.kind === k && c.startedAt > from).length > n);
    await sleep(500);
    await waitFor(enough(0, 4), 20_000, "4 calls of each kind before the kill");
    const killingAt = performance.now();
    await redis.kill();
    const killedAt = performance.now();
    await sleep(1000);
    await waitFor(enough(killedAt, 6), 20_000, "6 calls of each kind during the outage");
    const restartAt = performance.now();
    await redis.start();
    const upAt = performance.now();
    await sleep(1500);
    await waitFor(enough(upAt + RECOVERY_MS, 4), 20_000, "4 calls of each kind after recovery");
    await load.stop();
    const { calls } = load;

    expect(calls.filter((c) => c.result.startsWith("unexpected")).map((c) => `${c.kind}: ${c.result}`)).toEqual([]);
    expect(overBound(calls)).toEqual([]);
    expect(processes.exited()).toEqual([]);

    for (const kind of KINDS) {
      const mine = calls.filter((c) => c.kind === kind);
      const before = mine.filter((c) => c.startedAt + c.ms < killingAt);
      const during = mine.filter((c) => c.startedAt > killedAt && c.startedAt + c.ms < restartAt);
      const after = mine.filter((c) => c.startedAt > upAt + RECOVERY_MS);
      expect(before.length, kind).toBeGreaterThan(3);
      expect(before.every((c) => c.result === "counted"), kind).toBe(true);
      expect(during.length, kind).toBeGreaterThan(5);
      expect(during.every((c) => c.result === "failure-mode"), kind).toBe(true);
      // Counting is back within RECOVERY_MS of Redis answering again, and stays back.
      const firstCounted = mine.find((c) => c.startedAt > restartAt && c.result === "counted");
      expect(firstCounted, kind).toBeDefined();
      expect(firstCounted!.startedAt + firstCounted!.ms - upAt, kind).toBeLessThan(RECOVERY_MS);
      expect(after.length, kind).toBeGreaterThan(3);
      expect(after.every((c) => c.result === "counted"), kind).toBe(true);
      // The restarted Redis is empty: its count starts again from the full limit, one by one.
      const resumed = mine.filter((c) => c.startedAt > restartAt);
      expectConsecutive(resumed);
      expect(resumed.find((c) => c.result === "counted")?.remaining, kind).toBe(BIG - 1);
      expectConsecutive(before);
    }
  }, 90_000);

  it("after the outage a small limit counts exactly again: 2, 1, 0, then OVER_LIMIT", async () => {
    const run = randomUUID();
    const answers: [Code, number][] = [];
    for (let i = 0; i < 4; i++) {
      const res = await clients.shouldRateLimit(rlsRequest("outage", [descriptor(["small", run])]));
      answers.push([res.overallCode, res.statuses[0]?.limitRemaining ?? -1]);
    }
    expect(answers).toEqual([
      [Code.OK, 2],
      [Code.OK, 1],
      [Code.OK, 0],
      [Code.OVER_LIMIT, 0],
    ]);
  });

  it("the outage was logged as a warning, not as a crash", () => {
    const warnings = processes.warnings();
    expect(warnings.filter((w) => w["event"] === "limit_store_unavailable").length).toBeGreaterThan(0);
    expect(warnings.filter((w) => Number(w["level"] ?? 60) >= 60)).toEqual([]);
    expect(processes.exited()).toEqual([]);
  });
});
