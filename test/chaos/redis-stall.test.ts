import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { call } from "../admin/http-client.js";
import { Clients, descriptor, Processes, rlsRequest, sleep, summarize, tempDir } from "../e2e/support.js";
import { raisePriority, startRedisServer, type RedisServer } from "../support/redis-server.js";

/**
 * Redis frozen (SIGSTOP) for 5 s, and Redis killed (SIGKILL) and restarted, under 200 Checks/s
 * plus 200 ShouldRateLimit calls/s against a real tollgate process with the default 50 ms store
 * deadline. Every call must be answered by its limit's failure_mode within the deadline + 10 ms,
 * and service must come back within 100 ms of Redis. Before, a stall gave p50 61 ms, p99
 * 100-303 ms, max 350 ms: calls queued behind the frozen ones and each waited out its own deadline.
 *
 * What the machine itself adds (the 2 cores are shared with other work) is measured, not guessed:
 * 200 control Checks/s that touch no store run beside the load, and each bound is stated over the
 * control calls' own latency in the same stretch of time (and tollgate's own event-loop lag, for
 * the calls a timer answers).
 */

const DEADLINE_MS = 50;
const RECOVERY_MS = 100;

const POLICY = `package envoy.authz

mode := input.attributes.request.http.headers["x-mode"]

# The control calls (x-mode: none) are allowed with no limit: they never reach the store.
default allow := {"allowed": true}

allow := {
	"allowed": true,
	"limits": [{"key": concat(":", ["stall", mode]), "limit": 100000000, "window": 3600, "name": "t", "failure_mode": mode}],
} if mode in {"allow", "deny"}
`;

const RATELIMIT_YAML = `
domain: stall
descriptors:
  - key: mode
    value: allow
    rate_limit: {unit: hour, requests_per_unit: 100000000, failure_mode: allow}
  - key: mode
    value: deny
    rate_limit: {unit: hour, requests_per_unit: 100000000, failure_mode: deny}
`;

type Mode = "allow" | "deny" | "none";
/** counted: Redis answered; open/closed: failure_mode allow/deny answered; anything else is wrong. */
type Answer = "counted" | "open" | "closed" | "other";

interface Call {
  /** control: a Check whose policy sets no limit, the machine's latency without the store. */
  kind: "check" | "rls" | "control";
  mode: Mode;
  startedAt: number;
  endedAt: number;
  answer: Answer;
}

let redis: RedisServer;
let policyDir: string;
let ratelimitDir: string;
const processes = new Processes();
let client: Clients;
let adminUrl: string;

beforeAll(async () => {
  redis = await startRedisServer();
  // On a shared, oversubscribed test machine Redis itself can wait 50 ms for a CPU; what is tested
  // here is tollgate, so its Redis gets the CPU it would have on its own host.
  raisePriority(await redisPid(redis.port));
  policyDir = tempDir("stall-policy", { "p.rego": POLICY });
  ratelimitDir = tempDir("stall-rl", { "stall.yaml": RATELIMIT_YAML });
  const started = await processes.start(["--policies", policyDir, "--no-watch", "--no-policy-tests", "--redis-url", redis.url, "--ratelimit-config", ratelimitDir]);
  client = new Clients(started.port);
  adminUrl = `http://127.0.0.1:${started.adminPort}`;
  await client.check({ path: "/warmup", headers: { "x-mode": "allow" } });
  await client.shouldRateLimit(rlsRequest("stall", [descriptor(["mode", "allow"])]));
}, 120_000);

afterAll(async () => {
  client?.close();
  await processes.stopAll();
  await redis?.stop();
  rmSync(policyDir, { recursive: true, force: true });
  rmSync(ratelimitDir, { recursive: true, force: true });
});

async function checkCall(mode: Mode): Promise<Answer> {
  const a = summarize(await client.check({ path: "/v1/chat/completions", method: "POST", headers: { "x-mode": mode } }, 5000));
  if (mode === "none") return a.status === 200 && !a.limits?.["t"] ? "open" : "other";
  if (a.status === 200) return a.limits?.["t"] ? "counted" : "open";
  if (a.status === 503 && a.body === "rate limit store unavailable") return "closed";
  return "other";
}

async function rlsCall(mode: Mode): Promise<Answer> {
  const r = await client.shouldRateLimit(rlsRequest("stall", [descriptor(["mode", mode])]), 5000);
  const s = r.statuses[0];
  if (s?.durationUntilReset !== undefined) return r.overallCode === Code.OK ? "counted" : "other";
  if (s?.currentLimit === undefined) return "other";
  return r.overallCode === Code.OK ? "open" : "closed";
}

/** 200 Checks/s and 200 ShouldRateLimit/s (one of each every 5 ms), modes alternating; 200 control Checks/s. */
function load(): { calls: Call[]; stop: () => Promise<void> } {
  const calls: Call[] = [];
  const pending = new Set<Promise<void>>();
  let i = 0;
  const fire = (kind: Call["kind"], mode: Mode): void => {
    const startedAt = performance.now();
    const p = (kind === "rls" ? rlsCall(mode) : checkCall(mode))
      .catch((): Answer => "other")
      .then((answer) => void calls.push({ kind, mode, startedAt, endedAt: performance.now(), answer }));
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const timer = setInterval(() => {
    const mode: Mode = i++ % 2 === 0 ? "allow" : "deny";
    fire("check", mode);
    fire("rls", mode);
    fire("control", "none");
  }, 5);
  return {
    calls,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

function percentile(calls: Call[], q: number): number {
  const ms = calls.map((c) => c.endedAt - c.startedAt).sort((a, b) => a - b);
  return ms[Math.min(ms.length - 1, Math.floor(ms.length * q))] ?? Number.NaN;
}

const p99 = (calls: Call[]): number => percentile(calls, 0.99);

function expectFailureModeAnswers(calls: Call[]): void {
  const wrong = calls.filter((c) => c.answer !== (c.mode === "allow" ? "open" : "closed"));
  expect(wrong.map((c) => `${c.kind} ${c.mode}: ${c.answer}`)).toEqual([]);
}

async function redisPid(port: number): Promise<number> {
  const r = new Redis({ port, host: "127.0.0.1" });
  try {
    return Number(/process_id:(\d+)/.exec(await r.info("server"))?.[1]);
  } finally {
    r.disconnect();
  }
}

describe("chaos: Redis stalls and crashes under 200 Check/s + 200 ShouldRateLimit/s", () => {
  it("SIGSTOP for 5 s: every call answered by failure_mode within the deadline, back within 100 ms of SIGCONT", async () => {
    const pid = await redisPid(redis.port);
    const traffic = load();
    await sleep(1000);
    await loopLag();
    const stoppedAt = performance.now();
    process.kill(pid, "SIGSTOP");
    await sleep(5000);
    const lag = await loopLag();
    process.kill(pid, "SIGCONT");
    const resumedAt = performance.now();
    await sleep(1000);
    await traffic.stop();

    const { store, control } = split(traffic.calls);
    const baseline = store.filter((c) => c.endedAt < stoppedAt);
    expect(baseline.every((c) => c.answer === "counted")).toBe(true);
    // Calls that started once the stall was noticed and could not be answered by Redis.
    const during = (c: Call) => c.startedAt > stoppedAt + DEADLINE_MS && c.endedAt < resumedAt;
    const stalled = store.filter(during);
    const controls = control.filter(during);
    expect(stalled.length).toBeGreaterThan(100);
    expect(controls.length).toBeGreaterThan(100);
    expectFailureModeAnswers(stalled);
    report("SIGSTOP 5 s", baseline, stalled, controls, store, resumedAt, lag);
    expectWithinDeadline(stalled, controls, lag);
    // Most calls do not wait for the deadline at all (they do not queue behind the frozen
    // pipeline): their median is nearer the control calls' than the deadline above it, give or
    // take tollgate's median event-loop lag (a starved loop stretches the failure path, which
    // does more than a control call's, by about that much).
    expect(percentile(stalled, 0.5)).toBeLessThan(percentile(controls, 0.5) + DEADLINE_MS / 2 + lag.p50);

    expectRecovered(store, control, resumedAt, lag);
  }, 30_000);

  it("kill -9 and restart: every call answered by failure_mode while down, back within 100 ms of Redis accepting connections", async () => {
    const traffic = load();
    await sleep(1000);
    await loopLag();
    const killedAt = performance.now();
    await redis.kill();
    await sleep(3000);
    const lag = await loopLag();
    await redis.start();
    const restartedAt = performance.now();
    await sleep(1000);
    await traffic.stop();

    const { store, control } = split(traffic.calls);
    const baseline = store.filter((c) => c.endedAt < killedAt);
    expect(baseline.every((c) => c.answer === "counted")).toBe(true);
    const whileDown = (c: Call) => c.startedAt > killedAt + DEADLINE_MS && c.endedAt < restartedAt - 100;
    const down = store.filter(whileDown);
    const controls = control.filter(whileDown);
    expect(down.length).toBeGreaterThan(100);
    expect(controls.length).toBeGreaterThan(100);
    expectFailureModeAnswers(down);
    report("kill -9", baseline, down, controls, store, restartedAt, lag);
    expectWithinDeadline(down, controls, lag);

    expectRecovered(store, control, restartedAt, lag);
  }, 30_000);

  it("tollgate did not crash or log an error", () => {
    expect(processes.exited()).toEqual([]);
    expect(processes.warnings().filter((w) => Number(w["level"] ?? 60) >= 50)).toEqual([]);
  });
});

/** Calls to the store, and the control calls (every one answered allowed, never counted). */
function split(calls: Call[]): { store: Call[]; control: Call[] } {
  const control = calls.filter((c) => c.kind === "control");
  expect(control.filter((c) => c.answer !== "open")).toEqual([]);
  return { store: calls.filter((c) => c.kind !== "control"), control };
}

interface LoopLag {
  p50: number;
  p99: number;
}

/**
 * tollgate's event-loop lag (ms) since the previous call: Node's delay histogram (10 ms
 * resolution), which prom-client resets at every scrape of /metrics.
 */
async function loopLag(): Promise<LoopLag> {
  const text = (await call(`${adminUrl}/metrics`)).body;
  const at = (q: string): number => {
    const seconds = new RegExp(`^tollgate_nodejs_eventloop_lag_${q}_seconds (\\S+)$`, "m").exec(text)?.[1];
    expect(seconds, `event-loop lag ${q} in /metrics`).toBeDefined();
    return Number(seconds) * 1000;
  };
  return { p50: at("p50"), p99: at("p99") };
}

/**
 * p99 within the deadline + 10 ms, over the p99 of the control calls of the same stretch: those
 * touch no store, so their latency is what the machine (client, server, scheduler) adds anyway.
 * A call that waits out the deadline is answered by a timer in tollgate, which a busy machine
 * delays once more: by tollgate's event-loop lag over the stretch (p99), measured there.
 */
function expectWithinDeadline(calls: Call[], controls: Call[], lag: LoopLag): void {
  expect(p99(calls)).toBeLessThan(p99(controls) + DEADLINE_MS + 10 + lag.p99);
}

/**
 * Recovered within RECOVERY_MS of Redis: a call started that soon after was answered by Redis, and
 * every call started later too. Judged by when calls started, so that a busy machine's slower
 * answers do not count against tollgate; calls fire every 5 ms, so the window holds many. Noticing
 * Redis is back takes turns of tollgate's event loop (a reconnect timer, the connection, its ready
 * check): when the machine delays those, the window is widened by that delay, measured: the
 * slowest control call started in the window, or tollgate's event-loop lag p99 over the stretch
 * before, whichever is larger.
 */
function expectRecovered(calls: Call[], controls: Call[], backAt: number, loop: LoopLag): void {
  const slowest = Math.max(0, ...controls.filter((c) => c.startedAt >= backAt && c.startedAt < backAt + RECOVERY_MS).map((c) => c.endedAt - c.startedAt));
  const window = RECOVERY_MS + Math.max(slowest, loop.p99);
  const early = calls.filter((c) => c.startedAt >= backAt && c.startedAt < backAt + window);
  expect(early.length).toBeGreaterThan(0);
  expect(early.some((c) => c.answer === "counted")).toBe(true);
  const later = calls.filter((c) => c.startedAt >= backAt + window);
  expect(later.filter((c) => c.answer !== "counted").map((c) => `${c.kind} ${c.mode}: ${c.answer} at +${(c.startedAt - backAt).toFixed(0)} ms (window ${window.toFixed(0)} ms)`)).toEqual([]);
}

function report(what: string, baseline: Call[], during: Call[], controls: Call[], all: Call[], resumedAt: number, lag: LoopLag): void {
  const max = Math.max(...during.map((c) => c.endedAt - c.startedAt));
  const back = all.filter((c) => c.answer === "counted" && c.startedAt >= resumedAt).sort((a, b) => a.startedAt - b.startedAt)[0];
  console.info(
    `${what}: ${during.length} calls during; p99 baseline ${p99(baseline).toFixed(1)} ms, during p50 ${percentile(during, 0.5).toFixed(1)} ms, p99 ${p99(during).toFixed(1)} ms, max ${max.toFixed(1)} ms; ` +
      `control calls p50 ${percentile(controls, 0.5).toFixed(1)} ms, p99 ${p99(controls).toFixed(1)} ms; tollgate event-loop lag p50 ${lag.p50.toFixed(1)} ms, p99 ${lag.p99.toFixed(1)} ms; ` +
      `first call answered by Redis started ${back ? (back.startedAt - resumedAt).toFixed(1) : "none"} ms after Redis was back`,
  );
}
