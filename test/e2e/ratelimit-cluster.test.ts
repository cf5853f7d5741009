import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code, RateLimitResponse_RateLimit_Unit as Unit, type RateLimitResponse } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { createRedisLimitStore } from "../../src/limits/redis/redis-store.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { startRedisCluster, type RedisCluster } from "../support/redis-server.js";
import { SERVICE_CONFIG } from "../ratelimit/helpers.js";
import { describeServiceSemantics } from "../ratelimit/service-suite.js";
import { Clients, descriptor, rlsRequest, roomInWindow, summarize, tempDir } from "./support.js";

const MINUTE = 60;
const HOUR = 3600;

let cluster: RedisCluster;
/** One plain client per node, to see where keys land and what each node ran. */
let nodes: Redis[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  nodes = cluster.ports.map((port) => new Redis({ host: "127.0.0.1", port }));
}, 60_000);

afterAll(async () => {
  for (const n of nodes) n.disconnect();
  await cluster?.stop();
});

// The same semantic scenarios as for the memory store and single Redis, on the cluster store.
describeServiceSemantics("a 3-node Redis Cluster", (clock) =>
  createRedisLimitStore({ url: cluster.url, keyPrefix: `suite:${randomUUID()}:`, clock, commandTimeoutMs: 2000 }),
);

/** Which node (index into cluster.ports) serves a hash slot, from CLUSTER SLOTS. */
async function nodeOfSlot(slot: number): Promise<number> {
  const ranges = await nodes[0]!.cluster("SLOTS");
  const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  if (port === undefined) throw new Error(`no node serves slot ${slot}`);
  return cluster.ports.indexOf(port);
}

async function scriptCalls(): Promise<number> {
  let total = 0;
  for (const n of nodes) {
    const info = await n.info("commandstats");
    for (const name of ["evalsha", "eval"]) total += Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0);
  }
  return total;
}

async function keysOnEachNode(pattern: string): Promise<string[][]> {
  return Promise.all(nodes.map(async (n) => (await n.keys(pattern)).sort()));
}

const POLICY = `package envoy.authz

run := input.attributes.request.http.headers["x-run"]

allow := {
	"allowed": true,
	"limits": [
		{"key": sprintf("rpm:%s", [run]), "limit": 3, "unit": "minute", "name": "rpm"},
		{"key": sprintf("tpd:%s", [run]), "limit": 1000, "unit": "day", "cost": 100, "algorithm": "sliding_window", "name": "tokens"},
		{"key": sprintf("burst:%s", [run]), "limit": 10, "window": 10, "algorithm": "token_bucket", "name": "burst"},
	],
}
`;

describe("a real tollgate app on the cluster (gRPC ShouldRateLimit and Check)", () => {
  let app: TestApp;
  let clients: Clients;
  let ratelimitDir: string;
  let domains: string[];

  beforeAll(async () => {
    domains = ["dom0", "dom1", "dom2"];
    const perNode = domains.map((d) => `domain: ${d}\ndescriptors:\n  - key: user\n    rate_limit: {unit: hour, requests_per_unit: 2}\n`);
    ratelimitDir = tempDir("cluster-rl", { "svc.yaml": SERVICE_CONFIG, ...Object.fromEntries(perNode.map((text, i) => [`node${i}.yaml`, text])) });
    // A single seed node: the client discovers the other two from it.
    app = await startTestApp({ "p.rego": POLICY }, { redisUrl: `redis+cluster://127.0.0.1:${cluster.ports[0]}`, ratelimitConfig: ratelimitDir, redisCommandTimeoutMs: 1000 });
    clients = new Clients(app.app.grpcPort);
  }, 60_000);

  afterAll(async () => {
    clients?.close();
    await app?.close();
    rmSync(ratelimitDir, { recursive: true, force: true });
  });

  const rls = (descriptors: [string, string][][], hitsAddend = 0): Promise<RateLimitResponse> =>
    clients.shouldRateLimit(rlsRequest("svc", descriptors.map((entries) => descriptor(...entries)), hitsAddend));

  it("the app reports the cluster store", () => {
    expect(app.app.store.kind).toBe("redis-cluster");
  });

  it("counts down per minute, then OVER_LIMIT with RateLimit-* and Retry-After headers", async () => {
    const user = randomUUID();
    await roomInWindow(MINUTE, 5000);
    const answers: RateLimitResponse[] = [];
    for (let i = 0; i < 4; i++) answers.push(await rls([[["user", user]]]));
    expect(answers.map((r) => [r.overallCode, r.statuses[0]?.limitRemaining])).toEqual([
      [Code.OK, 2],
      [Code.OK, 1],
      [Code.OK, 0],
      [Code.OVER_LIMIT, 0],
    ]);
    const over = answers[3]!;
    const reset = over.statuses[0]?.durationUntilReset?.seconds ?? -1;
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(MINUTE);
    expect(over.statuses[0]?.currentLimit).toEqual({ name: "", requestsPerUnit: 3, unit: Unit.MINUTE });
    expect(over.responseHeadersToAdd.map((h) => [h.key, h.value])).toEqual([
      ["ratelimit-limit", "3"],
      ["ratelimit-remaining", "0"],
      ["ratelimit-reset", String(reset)],
      ["retry-after", String(reset)],
    ]);
  });

  it.each<[title: string, descriptors: [string, string][][], code: Code, remaining: number[]]>([
    ["requests_per_unit 0 blocks the first request", [[["blocked", "x"]]], Code.OVER_LIMIT, [0]],
    ["unlimited answers OK with remaining 4294967295", [[["free", "x"]]], Code.OK, [4294967295]],
    ["no matching descriptor answers OK without a limit", [[["nothing", "x"]]], Code.OK, [0]],
    ["replaces drops the named limit for this request", [[["plan", "basic"]], [["plan", "vip"]]], Code.OK, [0, 99]],
  ])("%s", async (_title, descriptors, code, remaining) => {
    const res = await rls(descriptors);
    expect(res.overallCode).toBe(code);
    expect(res.statuses.map((s) => s.limitRemaining)).toEqual(remaining);
  });

  it("shadow_mode over its limit still answers OK; quota_mode is over only when all quota descriptors are", async () => {
    const v = randomUUID();
    await roomInWindow(MINUTE, 5000);
    await rls([[["shadow", v]]]);
    const shadow = await rls([[["shadow", v]]]);
    expect([shadow.overallCode, shadow.statuses[0]?.code]).toEqual([Code.OK, Code.OK]);
    const quota = async () => (await rls([[["quota_a", v]], [["quota_b", v]]])).overallCode;
    expect([await quota(), await quota(), await quota()]).toEqual([Code.OK, Code.OK, Code.OVER_LIMIT]);
  });

  it("hits_addend counts several hits at once", async () => {
    const user = randomUUID();
    await roomInWindow(MINUTE, 5000);
    expect((await rls([[["user", user]]], 2)).statuses[0]?.limitRemaining).toBe(1);
    expect((await rls([[["user", user]]], 2)).overallCode).toBe(Code.OVER_LIMIT);
  });

  it("four descriptors of one request are four script calls, each counter in the slot of its own key", async () => {
    const v = randomUUID();
    const before = await scriptCalls();
    const res = await rls([[["user", v]], [["path", "/api/x"]], [["sliding", v]], [["bucket", v]]]);
    expect(await scriptCalls()).toBe(before + 4);
    expect(res.statuses.map((s) => s.limitRemaining)).toEqual([2, expect.any(Number) as number, 1, 1]);
    const where = await keysOnEachNode(`tollgate:{svc_*${v}*`);
    for (const [node, keys] of where.entries()) {
      for (const key of keys) expect(await nodeOfSlot(Number(await nodes[0]!.cluster("KEYSLOT", key)))).toBe(node);
    }
    expect(where.flat().map((k) => k.replace(/:\d+/, ":<window>")).sort()).toEqual(
      [`tollgate:{svc_bucket_${v}_}:tb`, `tollgate:{svc_sliding_${v}_}:<window>:sw`, `tollgate:{svc_user_${v}_}:<window>`].sort(),
    );
  });

  it("each domain's counters are keyed by domain and descriptor, and count on their own", async () => {
    const user = randomUUID();
    await roomInWindow(HOUR, 5000);
    for (const domain of domains) {
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push((await clients.shouldRateLimit(rlsRequest(domain, [descriptor(["user", user])]))).overallCode);
      expect(answers).toEqual([Code.OK, Code.OK, Code.OVER_LIMIT]);
    }
    const keys = (await keysOnEachNode(`tollgate:*${user}*`)).flat().sort();
    expect(keys.map((k) => k.replace(/:\d+$/, ""))).toEqual(domains.map((d) => `tollgate:{${d}_user_${user}_}`).sort());
    for (const key of keys) expect(await nodes[await nodeOfSlot(Number(await nodes[0]!.cluster("KEYSLOT", key)))]!.get(key)).toBe("3");
  });

  it("a Check with three policy limits is one script call, counted in the {policy} slot", async () => {
    const run = randomUUID();
    await roomInWindow(MINUTE, 5000);
    const before = await scriptCalls();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(summarize(await clients.check({ path: "/v1/chat", headers: { "x-run": run } })));
    expect(await scriptCalls()).toBe(before + 4);
    expect(answers.map((a) => [a.status, a.limits?.["rpm"]?.remaining, a.limits?.["tokens"]?.remaining])).toEqual([
      [200, 2, 900],
      [200, 1, 800],
      [200, 0, 700],
      // fixed_window and sliding_window limits still count when another limit refuses (ratelimit's default).
      [429, 0, 600],
    ]);
    expect(answers[3]!.headers["retry-after"]?.length).toBe(1);
    const where = await keysOnEachNode(`tollgate:{policy}:*${run}*`);
    expect(where.filter((keys) => keys.length > 0)).toHaveLength(1);
    expect(where.flat().map((k) => k.replace(/:\d+(:sw)?$/, ":<window>$1"))).toEqual(
      expect.arrayContaining([`tollgate:{policy}:10s:burst:${run}:tb`, `tollgate:{policy}:60s:rpm:${run}:<window>`, `tollgate:{policy}:86400s:tpd:${run}:<window>:sw`]),
    );
  });
});
