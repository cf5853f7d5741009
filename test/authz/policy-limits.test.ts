import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ServiceError } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SettingsInput } from "../../src/config/settings.js";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";
import { freePort, startRedisServer, type RedisServer } from "../support/redis-server.js";
import { nextWindow, roomInWindow, sleep, summarize, type CheckSummary as Answer } from "../e2e/support.js";

const SHARED_REDIS_URL = process.env["TOLLGATE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";
const HOUR = 3600;

/**
 * Three routes: /requests (3 per hour per x-run), /tokens (cost = the body's max_tokens, plus a
 * request limit) and /echo, whose JSON body is the decision itself, so a test states its limits.
 */
const POLICY = `package envoy.authz

http := input.attributes.request.http

run := http.headers["x-run"]

default allow := {"allowed": false, "http_status": 404, "body": "no route"}

allow := {
	"allowed": true,
	"limits": [{"key": sprintf("req:%s", [run]), "limit": 3, "unit": "hour", "name": "requests"}],
	"limited_body": "{\\"error\\":\\"too many requests\\"}",
} if input.parsed_path == ["requests"]

allow := {
	"allowed": true,
	"limits": [
		{"key": sprintf("req:%s", [run]), "limit": 100, "window": 3600, "name": "requests"},
		{"key": sprintf("tok:%s", [run]), "limit": 1000, "window": 3600, "cost": input.parsed_body.max_tokens, "name": "tokens"},
	],
} if input.parsed_path == ["tokens"]

allow := object.union({"allowed": true}, input.parsed_body) if input.parsed_path == ["echo"]
`;

const json = { "content-type": "application/json" };

async function call(t: TestApp, path: string, run: string, body?: unknown): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return summarize(await t.check(checkRequest({ method: "POST", path, headers: { ...json, "x-run": run }, ...(text === undefined ? {} : { body: text }) })));
}

/** A decision with the given limits, answered by the /echo route. */
function echo(t: TestApp, run: string, decision: Record<string, unknown>): Promise<Answer> {
  return call(t, "/echo", run, decision);
}

async function callError(t: TestApp, decision: unknown): Promise<ServiceError> {
  const err = await t.check(checkRequest({ method: "POST", path: "/echo", headers: json, body: JSON.stringify(decision) })).then(
    () => undefined,
    (e: unknown) => e as ServiceError,
  );
  if (!err) throw new Error("expected the Check to fail");
  return err;
}

const runs: string[] = [];
function newRun(): string {
  const run = `pl-${randomUUID()}`;
  runs.push(run);
  return run;
}

let t: TestApp;
let shared: Redis;
beforeAll(async () => {
  shared = new Redis(SHARED_REDIS_URL);
  t = await startTestApp({ "p.rego": POLICY }, { redisUrl: SHARED_REDIS_URL, redisCommandTimeoutMs: 1000 });
});
afterAll(async () => {
  await t?.close();
  for (const run of runs) {
    const keys = await shared.keys(`tollgate:*${run}*`);
    if (keys.length > 0) await shared.del(...keys);
  }
  shared?.disconnect();
});

describe("request limit", () => {
  it("counts down in dynamic_metadata.limits and RateLimit-* response headers, then 429 with the policy's limited_body", async () => {
    const run = newRun();
    await roomInWindow(HOUR, 10_000);
    const answers: Answer[] = [];
    for (let i = 0; i < 4; i++) answers.push(await call(t, "/requests", run));
    const [a1, a2, a3, over] = answers as [Answer, Answer, Answer, Answer];

    expect([a1, a2, a3].map((a) => [a.status, a.limits?.["requests"]?.remaining, a.headers["ratelimit-remaining"]])).toEqual([
      [200, 2, ["2"]],
      [200, 1, ["1"]],
      [200, 0, ["0"]],
    ]);
    const reset = a1.limits!["requests"]!.reset_seconds;
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(HOUR);
    expect(a1.limits).toEqual({ requests: { limit: 3, remaining: 2, reset_seconds: reset, over: false } });
    expect(a1.headers).toEqual({ "ratelimit-limit": ["3"], "ratelimit-remaining": ["2"], "ratelimit-reset": [String(reset)] });

    expect(over.status).toBe(429);
    expect(over.body).toBe('{"error":"too many requests"}');
    // The window end is the same; the seconds left to it may have ticked once since the first call.
    const overReset = over.limits!["requests"]!.reset_seconds;
    expect(reset - overReset).toBeGreaterThanOrEqual(0);
    expect(reset - overReset).toBeLessThanOrEqual(1);
    expect(over.headers).toEqual({
      "ratelimit-limit": ["3"],
      "ratelimit-remaining": ["0"],
      "ratelimit-reset": [String(overReset)],
      "retry-after": [String(overReset)],
    });
    expect(over.limits).toEqual({ requests: { limit: 3, remaining: 0, reset_seconds: overReset, over: true } });
  });

  it("without limited_body the 429 says 'rate limit exceeded'", async () => {
    const run = newRun();
    const limits = [{ key: `k:${run}`, limit: 0, window: 60 }];
    const res = await echo(t, run, { limits });
    expect(res).toMatchObject({ status: 429, body: "rate limit exceeded", headers: { "ratelimit-limit": ["0"], "ratelimit-remaining": ["0"] } });
  });

  it("a denied decision applies none of its limits", async () => {
    const run = newRun();
    const limits = [{ key: `k:${run}`, limit: 5, window: HOUR, name: "n" }];
    const denied = await echo(t, run, { allowed: false, http_status: 403, body: "no", limits });
    expect(denied).toMatchObject({ status: 403, body: "no", limits: undefined });
    expect((await echo(t, run, { limits })).limits?.["n"]?.remaining).toBe(4);
  });

  it("the same key counts on one counter whatever other limits share the decision", async () => {
    const run = newRun();
    await roomInWindow(HOUR, 10_000);
    const user = { key: `user:${run}`, limit: 3, window: HOUR, name: "user" };
    await echo(t, run, { limits: [user] });
    await echo(t, run, { limits: [{ key: `org:${run}`, limit: 100, window: HOUR, name: "org" }, user] });
    const third = await echo(t, run, { limits: [user, { key: `ip:${run}`, limit: 100, window: HOUR, name: "ip" }] });
    expect(third.limits?.["user"]?.remaining).toBe(0);
    expect((await echo(t, run, { limits: [user] })).status).toBe(429);
  });

  it("one key with two windows keeps two counters, even in the second both windows start together", async () => {
    const run = newRun();
    // Even seconds start both a 1 s and a 2 s window: the stores' fixed-window keys alone would coincide.
    await roomInWindow(2, 1700);
    const limits = [
      { key: `k:${run}`, limit: 5, window: 1, name: "per_second" },
      { key: `k:${run}`, limit: 9, window: 2, name: "per_2s" },
    ];
    const first = await echo(t, run, { limits });
    const second = await echo(t, run, { limits });
    expect(first.status).toBe(200);
    expect([first.limits?.["per_second"]?.remaining, first.limits?.["per_2s"]?.remaining]).toEqual([4, 8]);
    expect([second.limits?.["per_second"]?.remaining, second.limits?.["per_2s"]?.remaining]).toEqual([3, 7]);
  });
});

describe("token cost from the input", () => {
  it("cost = parsed_body.max_tokens: remaining drops by each request's cost; a request that does not fit is 429", async () => {
    const run = newRun();
    await roomInWindow(HOUR, 10_000);
    const a = await call(t, "/tokens", run, { max_tokens: 400 });
    const b = await call(t, "/tokens", run, { max_tokens: 500 });
    expect([a.status, a.limits?.["tokens"]?.remaining, a.limits?.["requests"]?.remaining]).toEqual([200, 600, 99]);
    expect([b.status, b.limits?.["tokens"]?.remaining, b.limits?.["requests"]?.remaining]).toEqual([200, 100, 98]);
    // Headers describe the limit with the smallest share left: tokens (10 %) rather than requests (98 %).
    expect(b.headers["ratelimit-limit"]).toEqual(["1000"]);
    expect(b.headers["ratelimit-remaining"]).toEqual(["100"]);

    const tooBig = await call(t, "/tokens", run, { max_tokens: 200 });
    expect(tooBig.status).toBe(429);
    expect(tooBig.limits?.["tokens"]).toMatchObject({ limit: 1000, remaining: 0, over: true });
    expect(tooBig.headers["ratelimit-limit"]).toEqual(["1000"]);
    // fixed_window counts refused hits too (as envoyproxy/ratelimit): the 200 used up what was left.
    expect((await call(t, "/tokens", run, { max_tokens: 50 })).status).toBe(429);
  });

  it("sliding_window and token_bucket do not count a refused cost: a smaller request still fits", async () => {
    await roomInWindow(HOUR, 10_000);
    for (const algorithm of ["sliding_window", "token_bucket"]) {
      const run = newRun();
      const tokens = (cost: number) => [{ key: `tok:${run}`, limit: 1000, window: HOUR, cost, algorithm, name: "tokens" }];
      expect((await echo(t, run, { limits: tokens(900) })).limits?.["tokens"]?.remaining).toBe(100);
      expect((await echo(t, run, { limits: tokens(200) })).status).toBe(429);
      const small = await echo(t, run, { limits: tokens(100) });
      expect([algorithm, small.status, small.limits?.["tokens"]?.remaining]).toEqual([algorithm, 200, 0]);
    }
  });

  it("cost 0 only reads the counter", async () => {
    const run = newRun();
    const limit = (cost: number) => [{ key: `k:${run}`, limit: 2, window: HOUR, cost, name: "n" }];
    await echo(t, run, { limits: limit(1) });
    expect((await echo(t, run, { limits: limit(0) })).limits?.["n"]).toMatchObject({ remaining: 1, over: false });
    expect((await echo(t, run, { limits: limit(0) })).limits?.["n"]).toMatchObject({ remaining: 1, over: false });
  });
});

describe("shadow limits", () => {
  it("a shadow limit over its limit is reported but never denies; headers describe the enforced limit", async () => {
    const run = newRun();
    await roomInWindow(HOUR, 10_000);
    const limits = [
      { key: `shadow:${run}`, limit: 1, window: HOUR, shadow: true, name: "trial", failure_mode: "deny" },
      { key: `real:${run}`, limit: 100, window: HOUR, name: "real" },
    ];
    const answers = [await echo(t, run, { limits }), await echo(t, run, { limits }), await echo(t, run, { limits })];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => [a.limits?.["trial"]?.over, a.limits?.["trial"]?.remaining])).toEqual([
      [false, 0],
      [true, 0],
      [true, 0],
    ]);
    expect(answers[2]!.headers["ratelimit-limit"]).toEqual(["100"]);
    expect(answers[2]!.headers["ratelimit-remaining"]).toEqual(["97"]);
    expect(t.logs.events("shadow_limit_over").filter((l) => l["limit"] === "trial").length).toBeGreaterThanOrEqual(2);
  });

  it("a decision with only shadow limits adds no RateLimit headers", async () => {
    const run = newRun();
    const res = await echo(t, run, { limits: [{ key: `s:${run}`, limit: 0, window: 60, shadow: true, name: "s" }] });
    expect(res).toMatchObject({ status: 200, headers: {}, limits: { s: { limit: 0, remaining: 0, over: true } } });
  });
});

describe("several over limits", () => {
  it("Retry-After waits for the longest of them, and RateLimit-* describe that one", async () => {
    const run = newRun();
    await roomInWindow(HOUR, 10_000);
    const limits = [
      { key: `k:${run}`, limit: 1, window: 1, name: "second" },
      { key: `k:${run}`, limit: 1, window: HOUR, name: "hour" },
    ];
    expect((await echo(t, run, { limits })).status).toBe(200);
    const over = await echo(t, run, { limits });
    expect(over.status).toBe(429);
    const hourReset = over.limits!["hour"]!.reset_seconds;
    expect(hourReset).toBeGreaterThan(1);
    expect(over.headers).toEqual({
      "ratelimit-limit": ["1"],
      "ratelimit-remaining": ["0"],
      "ratelimit-reset": [String(hourReset)],
      "retry-after": [String(hourReset)],
    });
  });
});

describe("window reset with short windows", () => {
  // Real-time windows: on an overloaded machine three calls can straddle a window edge, so these
  // two retry; the store's own tests pin the same arithmetic with an injected clock.
  it("fixed_window of 1 s: the third call is 429 with Retry-After 1; the next second admits again", { retry: 2 }, async () => {
    const run = newRun();
    await roomInWindow(1, 600);
    const limits = [{ key: `k:${run}`, limit: 2, window: 1, name: "n" }];
    const statuses = [(await echo(t, run, { limits })).status, (await echo(t, run, { limits })).status];
    const over = await echo(t, run, { limits });
    expect([...statuses, over.status]).toEqual([200, 200, 429]);
    expect(over.headers["retry-after"]).toEqual(["1"]);
    await nextWindow(1);
    const again = await echo(t, run, { limits });
    expect([again.status, again.limits?.["n"]?.remaining]).toEqual([200, 1]);
  });

  it("token_bucket of 2 per 2 s: refills one unit every second", { retry: 2 }, async () => {
    const run = newRun();
    const limits = [{ key: `k:${run}`, limit: 2, window: 2, algorithm: "token_bucket", name: "n" }];
    expect((await echo(t, run, { limits })).status).toBe(200);
    expect((await echo(t, run, { limits })).status).toBe(200);
    const over = await echo(t, run, { limits });
    expect([over.status, over.headers["retry-after"]]).toEqual([429, ["1"]]);
    await sleep(1100);
    expect((await echo(t, run, { limits })).status).toBe(200);
    expect((await echo(t, run, { limits })).status).toBe(429);
  });
});

describe("bad limit shapes", () => {
  const cases: [title: string, decision: Record<string, unknown>, message: string][] = [
    ["limits not an array", { limits: { key: "k" } }, "expected limits to be an array but got object"],
    ["an entry that is not an object", { limits: ["k"] }, "expected limits[0] to be an object but got string"],
    ["no key", { limits: [{ limit: 1, window: 1 }] }, "expected limits[0].key to be a non-empty string of at most 512 characters"],
    ["an empty key", { limits: [{ key: "", limit: 1, window: 1 }] }, "expected limits[0].key to be a non-empty string of at most 512 characters"],
    ["a key over 512 characters", { limits: [{ key: "k".repeat(513), limit: 1, window: 1 }] }, "expected limits[0].key to be a non-empty string of at most 512 characters"],
    ["neither window nor unit", { limits: [{ key: "k", limit: 1 }] }, "limits[0] needs window (seconds) or unit (second|minute|hour|day|week|month|year)"],
    ["an unknown unit", { limits: [{ key: "k", limit: 1, unit: "fortnight" }] }, "limits[0] needs window (seconds) or unit (second|minute|hour|day|week|month|year)"],
    ["window 0", { limits: [{ key: "k", limit: 1, window: 0 }] }, "expected limits[0].window to be a positive integer but got 0"],
    ["a fractional window", { limits: [{ key: "k", limit: 1, window: 1.5 }] }, "expected limits[0].window to be a positive integer but got 1.5"],
    ["a window over ten years", { limits: [{ key: "k", limit: 1, window: 315_360_001 }] }, "limits[0].window 315360001 is above the maximum 315360000 seconds"],
    ["a negative limit", { limits: [{ key: "k", limit: -1, window: 1 }] }, "expected limits[0].limit to be a non-negative integer but got -1"],
    ["a limit given as a string", { limits: [{ key: "k", limit: "10", window: 1 }] }, 'expected limits[0].limit to be a non-negative integer but got "10"'],
    ["a limit above uint32", { limits: [{ key: "k", limit: 4_294_967_296, window: 1 }] }, "limits[0].limit 4294967296 is above the maximum 4294967295"],
    ["a fractional cost", { limits: [{ key: "k", limit: 9, window: 1, cost: 0.5 }] }, "expected limits[0].cost to be a non-negative integer but got 0.5"],
    ["a cost above uint32", { limits: [{ key: "k", limit: 9, window: 1, cost: 1e10 }] }, "limits[0].cost 10000000000 is above the maximum 4294967295"],
    ["an unknown algorithm", { limits: [{ key: "k", limit: 1, window: 1, algorithm: "leaky_bucket" }] }, 'invalid limits[0].algorithm "leaky_bucket"'],
    ["an unknown failure_mode", { limits: [{ key: "k", limit: 1, window: 1, failure_mode: "open" }] }, 'invalid limits[0].failure_mode "open"'],
    ["shadow not a boolean", { limits: [{ key: "k", limit: 1, window: 1, shadow: "yes" }] }, "expected limits[0].shadow to be a boolean"],
    ["a name that is not a string", { limits: [{ key: "k", limit: 1, window: 1, name: 7 }] }, "expected limits[0].name to be a non-empty string of at most 512 characters"],
    ["a name over 512 characters", { limits: [{ key: "k", limit: 1, window: 1, name: "n".repeat(513) }] }, "expected limits[0].name to be a non-empty string of at most 512 characters"],
    ["reconcile not a boolean", { limits: [{ key: "k", limit: 1, window: 1, reconcile: "yes" }] }, "expected limits[0].reconcile to be a boolean"],
    ["stream_stop not a boolean", { limits: [{ key: "k", limit: 1, window: 1, reconcile: true, stream_stop: 1 }] }, "expected limits[0].stream_stop to be a boolean"],
    [
      "stream_stop without reconcile",
      { limits: [{ key: "k", limit: 1, window: 1, stream_stop: true }] },
      "limits[0].stream_stop needs reconcile: true (a stream is stopped on the counter its reservation is reconciled on)",
    ],
    [
      "stream_stop on a shadow limit",
      { limits: [{ key: "k", limit: 1, window: 1, reconcile: true, stream_stop: true, shadow: true }] },
      "limits[0] is a shadow limit: it never refuses, so it cannot stop a stream (drop stream_stop or shadow)",
    ],
    ["33 limits", { limits: Array.from({ length: 33 }, (_, i) => ({ key: `k${i}`, limit: 1, window: 1 })) }, "at most 32 limits per decision"],
    [
      "the same key, window and algorithm twice",
      { limits: [{ key: "k", limit: 1, window: 60, name: "a" }, { key: "k", limit: 5, unit: "minute", name: "b" }] },
      "limits[1] repeats limits[0]: same key, window, algorithm and partition",
    ],
    [
      "two limits with one name (the key is the default name)",
      { limits: [{ key: "k", limit: 1, window: 60 }, { key: "k", limit: 5, window: 3600 }] },
      'limits[1] has the same name "k" as limits[0]; give each limit its own name',
    ],
    ["limited_body not a string", { limits: [{ key: "k", limit: 1, window: 1 }], limited_body: { error: "x" } }, "expected limited_body to be a string but got object"],
  ];

  it.each(cases)("%s – gRPC INTERNAL with decision_error: <message>, nothing counted", async (_title, decision, message) => {
    const before = (await shared.keys("tollgate:{policy}:*:k")).length;
    const err = await callError(t, decision);
    expect({ code: err.code, details: err.details }).toEqual({ code: 13, details: `decision_error: ${message}` });
    expect((await shared.keys("tollgate:{policy}:*:k")).length).toBe(before);
  });

  it("with onDecisionError deny, a bad shape answers 403 instead", async () => {
    const strict = await startTestApp({ "p.rego": POLICY }, { onDecisionError: "deny" });
    try {
      const res = summarize(await strict.check(checkRequest({ method: "POST", path: "/echo", headers: json, body: JSON.stringify({ limits: [{ key: "k", limit: -1, window: 1 }] }) })));
      expect(res.status).toBe(403);
    } finally {
      await strict.close();
    }
  });
});

describe("one store round trip per Check", () => {
  let own: RedisServer;
  let app: TestApp;
  let raw: Redis;
  beforeAll(async () => {
    own = await startRedisServer();
    raw = new Redis(own.url);
    app = await startTestApp({ "p.rego": POLICY }, { redisUrl: own.url, redisCommandTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await app?.close();
    raw?.disconnect();
    await own?.stop();
  });

  async function scriptCalls(): Promise<{ evalsha: number; eval: number }> {
    const info = await raw.info("commandstats");
    const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0);
    return { evalsha: calls("evalsha"), eval: calls("eval") };
  }

  it("a decision with three limits (fixed, sliding, token bucket) costs exactly one EVALSHA per Check", async () => {
    const run = newRun();
    const limits = [
      { key: `a:${run}`, limit: 10, window: HOUR, name: "fixed" },
      { key: `b:${run}`, limit: 10, window: HOUR, algorithm: "sliding_window", name: "sliding" },
      { key: `c:${run}`, limit: 10, window: HOUR, algorithm: "token_bucket", name: "bucket", cost: 2 },
    ];
    await echo(app, run, { limits }); // the first call on a connection sends the script itself (EVAL)
    const before = await scriptCalls();
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await echo(app, run, { limits }));
    const after = await scriptCalls();
    expect({ evalsha: after.evalsha - before.evalsha, eval: after.eval - before.eval }).toEqual({ evalsha: 5, eval: 0 });
    expect(answers.map((a) => [a.limits?.["fixed"]?.remaining, a.limits?.["sliding"]?.remaining, a.limits?.["bucket"]?.remaining])).toEqual([
      [8, 8, 6],
      [7, 7, 4],
      [6, 6, 2],
      [5, 5, 0],
      [4, 4, 0],
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 429]);
  });
});

describe("failure modes with an unreachable Redis", () => {
  let down: TestApp;
  beforeAll(async () => {
    const port = await freePort();
    const settings: Partial<SettingsInput> = { redisUrl: `redis://127.0.0.1:${port}` };
    down = await startTestApp({ "p.rego": POLICY }, settings);
  });
  afterAll(async () => {
    await down?.close();
  });

  const limit = (extra: Record<string, unknown>) => ({ key: "k", limit: 10, window: 60, ...extra });
  const cases: [title: string, limits: Record<string, unknown>[], status: number, body: string][] = [
    ["failure_mode allow (the default) – allowed, no counter, no RateLimit headers", [limit({})], 200, ""],
    ["failure_mode deny – 503", [limit({ failure_mode: "deny" })], 503, "rate limit store unavailable"],
    ["one deny among allows – 503", [limit({ name: "a" }), limit({ key: "k2", failure_mode: "deny" })], 503, "rate limit store unavailable"],
    ["a shadow limit's deny does not fail closed", [limit({ shadow: true, failure_mode: "deny", name: "s" }), limit({ key: "k2" })], 200, ""],
  ];

  it.each(cases)("%s", async (_title, limits, status, body) => {
    const started = performance.now();
    const res = await echo(down, "x", { limits });
    expect(performance.now() - started).toBeLessThan(300);
    expect(res).toEqual({ status, headers: {}, body, limits: {} });
  });

  it("the outage is logged with the failure mode used", () => {
    const events = down.logs.events("limit_store_unavailable");
    expect(events.map((e) => e["failure_mode"])).toEqual(expect.arrayContaining(["allow", "deny"]));
  });
});

describe("the example in docs/policy-limits.md", () => {
  const doc = readFileSync("docs/policy-limits.md", "utf8");
  const example = /```rego\n([\s\S]*?)```/.exec(doc)?.[1] ?? "";
  const post = (app: TestApp, client: string, body: unknown) =>
    app.check(checkRequest({ method: "POST", path: "/v1/chat/completions", headers: { ...json, "x-client-id": client }, body: JSON.stringify(body) })).then(summarize);

  it("counts requests and the requested tokens; the second large request is refused with the policy's body", async () => {
    expect(example).toContain("package envoy.authz");
    const app = await startTestApp({ "example.rego": example }, { redisUrl: SHARED_REDIS_URL, redisCommandTimeoutMs: 1000 });
    try {
      const client = newRun();
      await roomInWindow(86_400, 10_000);
      const first = await post(app, client, { max_tokens: 150_000 });
      expect(first.status).toBe(200);
      expect(first.limits?.["tokens_per_day"]).toMatchObject({ limit: 200_000, remaining: 50_000, over: false });
      expect(first.limits?.["requests_per_minute"]).toMatchObject({ limit: 60, remaining: 59 });
      expect(first.headers["ratelimit-limit"]).toEqual(["200000"]);

      const second = await post(app, client, { max_tokens: 60_000 });
      expect(second.status).toBe(429);
      expect(second.body).toBe('{"error":{"type":"rate_limit_exceeded"}}');
      expect(second.headers["ratelimit-limit"]).toEqual(["200000"]);
      expect(Number(second.headers["retry-after"]?.[0])).toBeGreaterThanOrEqual(1);
      // Without max_tokens the request is charged 1024.
      const third = await post(app, client, { messages: [] });
      expect(third.limits?.["tokens_per_day"]?.remaining).toBe(50_000 - 1024);
    } finally {
      await app.close();
    }
  });

  it("with Redis unreachable the fail-closed token budget answers 503", async () => {
    const app = await startTestApp({ "example.rego": example }, { redisUrl: `redis://127.0.0.1:${await freePort()}` });
    try {
      expect(await post(app, "c", { max_tokens: 1 })).toMatchObject({ status: 503, body: "rate limit store unavailable" });
    } finally {
      await app.close();
    }
  });
});
