import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { startRedisCluster, type RedisCluster } from "../support/redis-server.js";
import { Clients, descriptor, Processes, rlsRequest, roomInWindow, summarize, tempDir } from "./support.js";

// Counters spread over a 3-master Redis Cluster: policy limits by the partition a decision names
// (the tenant), ShouldRateLimit descriptors each in the slot of its own counter. Four tollgate
// processes share the cluster; the counts below come from each node's INFO commandstats.

const PROCESSES = 4;
const HOUR = 3600;
const LIMIT = 300;
const CALLS = 1200;
/** As in ratelimit-exactness.test.ts: every answer must come from Redis, not from a failure_mode. */
const COMMAND_TIMEOUT_MS = "5000";
const CALL_DEADLINE_MS = 30_000;

const RATELIMIT_YAML = `
domain: spread
descriptors:
  - key: value
    rate_limit: {unit: hour, requests_per_unit: 1000000}
  - key: run
    rate_limit: {unit: hour, requests_per_unit: ${LIMIT}}
  - key: side
    rate_limit: {unit: hour, requests_per_unit: 1000000}
`;

// Three limits per tenant, partitioned by tenant; x-partition: none leaves them unpartitioned.
const POLICY = `package envoy.authz

headers := input.attributes.request.http.headers

tenant := headers["x-tenant"]

cap := to_number(object.get(headers, "x-limit", "1000000"))

partitioned(l) := object.union(l, {"partition": tenant}) if object.get(headers, "x-partition", "") != "none"
else := l

allow := {
	"allowed": true,
	"limits": [partitioned(l) | some l in [
		{"key": sprintf("rpm:%s", [tenant]), "limit": cap, "window": ${HOUR}, "name": "rpm"},
		{"key": sprintf("tpm:%s", [tenant]), "limit": 1000000, "window": ${HOUR}, "cost": 10, "algorithm": "sliding_window", "name": "tpm"},
		{"key": sprintf("burst:%s", [tenant]), "limit": 1000000, "window": 60, "algorithm": "token_bucket", "name": "burst"},
	]],
}
`;

let cluster: RedisCluster;
let nodes: Redis[] = [];
let policyDir: string;
let ratelimitDir: string;
const processes = new Processes();
const clients: Clients[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  nodes = cluster.ports.map((port) => new Redis({ host: "127.0.0.1", port }));
  policyDir = tempDir("spread-policy", { "p.rego": POLICY });
  ratelimitDir = tempDir("spread-rl", { "spread.yaml": RATELIMIT_YAML });
  // One seed node each: the clients learn the other two from it.
  const args = (i: number): string[] => [
    "--policies", policyDir, "--no-watch", "--no-policy-tests", "--ratelimit-config", ratelimitDir,
    "--redis-url", `redis+cluster://127.0.0.1:${cluster.ports[i % 3]}`,
  ];
  // One after another: four policy builds at once can take longer than a start may on a loaded 2-core machine.
  for (let i = 0; i < PROCESSES; i++) clients.push(new Clients((await processes.start(args(i), { TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: COMMAND_TIMEOUT_MS })).port));
  await Promise.all(clients.map((c) => c.shouldRateLimit(rlsRequest("spread", [descriptor(["value", "warmup"])]))));
  await Promise.all(clients.map((c) => c.check({ path: "/warmup", headers: { "x-tenant": `warmup-${randomUUID()}` } })));
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await processes.stopAll();
  for (const n of nodes) n.disconnect();
  await cluster?.stop();
  rmSync(policyDir, { recursive: true, force: true });
  rmSync(ratelimitDir, { recursive: true, force: true });
});

/** Commands each node ran since the last reset: scripts and the commands inside them, not our own INFO. */
async function commandsPerNode(): Promise<number[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const info = await n.info("commandstats");
      let total = 0;
      for (const [, name, calls] of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
        if (!["info", "cluster", "ping", "client", "command", "config", "readonly"].includes(name!.split("|")[0]!)) total += Number(calls);
      }
      return total;
    }),
  );
}

async function resetStats(): Promise<void> {
  await Promise.all(nodes.map((n) => n.config("RESETSTAT")));
}

const spread = (counts: number[]): number => Math.max(...counts) / Math.max(1, Math.min(...counts));

describe("commands per node", () => {
  it("100 tenants' Checks (three limits each, partitioned by tenant) spread within 2x over the three nodes", async () => {
    await roomInWindow(60, 10_000);
    await resetStats();
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < 100; i++) {
      const answer = summarize(await clients[0]!.check({ path: "/v1/chat", headers: { "x-tenant": `tenant-${i}-${run}` } }));
      expect(answer.status).toBe(200);
      expect(answer.limits?.["rpm"]?.remaining).toBe(999_999);
    }
    const counts = await commandsPerNode();
    if (process.env["SHOW_COUNTS"]) console.log("commands per node, 100 tenants:", counts);
    // 100 scripts, each with GET/SET commands inside: hundreds of commands in all.
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(400);
    expect(counts.every((c) => c > 0)).toBe(true);
    expect(spread(counts)).toBeLessThanOrEqual(2);
  });

  it("without a partition the same Checks all land on one node (what the partition fixes)", async () => {
    await resetStats();
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < 30; i++) {
      expect(summarize(await clients[0]!.check({ path: "/v1/chat", headers: { "x-tenant": `tenant-${i}-${run}`, "x-partition": "none" } })).status).toBe(200);
    }
    const counts = await commandsPerNode();
    expect(counts.filter((c) => c > 0)).toHaveLength(1);
  });

  it("100 descriptor values (three descriptors a call) spread within 2x over the three nodes", async () => {
    await resetStats();
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < 100; i++) {
      const res = await clients[0]!.shouldRateLimit(
        rlsRequest("spread", [descriptor(["value", `v${i}-${run}`]), descriptor(["side", `a${i}-${run}`]), descriptor(["side", `b${i}-${run}`])]),
      );
      expect(res.statuses.map((s) => [s.code, s.limitRemaining])).toEqual([[Code.OK, 999_999], [Code.OK, 999_999], [Code.OK, 999_999]]);
    }
    const counts = await commandsPerNode();
    if (process.env["SHOW_COUNTS"]) console.log("commands per node, 100 descriptor values:", counts);
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(600);
    expect(spread(counts)).toBeLessThanOrEqual(2);
  });
});

describe(`exactness on the cluster: ${CALLS} concurrent calls from ${PROCESSES} processes against a limit of ${LIMIT}`, () => {
  function burst<T>(call: (client: Clients) => Promise<T>): Promise<T[]> {
    return Promise.all(Array.from({ length: CALLS }, (_, i) => call(clients[i % PROCESSES]!)));
  }

  it(`ShouldRateLimit with three descriptors on different nodes admits exactly ${LIMIT}`, async () => {
    const run = randomUUID();
    await roomInWindow(HOUR, 20_000);
    const responses = await burst((c) =>
      c.shouldRateLimit(rlsRequest("spread", [descriptor(["side", `x-${run}`]), descriptor(["run", run]), descriptor(["side", `y-${run}`])]), CALL_DEADLINE_MS),
    );
    const ok = responses.filter((r) => r.overallCode === Code.OK);
    expect(ok).toHaveLength(LIMIT);
    expect(responses.filter((r) => r.overallCode === Code.OVER_LIMIT)).toHaveLength(CALLS - LIMIT);
    expect(ok.map((r) => r.statuses[1]?.limitRemaining).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: LIMIT }, (_, i) => i));
    // The other two counters counted every call, each on its own.
    for (const r of responses) expect(r.statuses[0]?.durationUntilReset?.seconds).toBeGreaterThan(0);
    expect(Math.min(...responses.map((r) => r.statuses[2]?.limitRemaining ?? 0))).toBe(1_000_000 - CALLS);
  }, 90_000);

  it(`Check with a tenant-partitioned limit admits exactly ${LIMIT}, the rest 429`, async () => {
    const tenant = randomUUID();
    await roomInWindow(HOUR, 20_000);
    const answers = (await burst((c) => c.check({ path: "/v1/chat", headers: { "x-tenant": tenant, "x-limit": String(LIMIT) } }, CALL_DEADLINE_MS))).map(summarize);
    const allowed = answers.filter((a) => a.status === 200);
    expect(allowed).toHaveLength(LIMIT);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(CALLS - LIMIT);
    expect(allowed.map((a) => a.limits?.["rpm"]?.remaining).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: LIMIT }, (_, i) => i));
  }, 90_000);

  it("no process crashed or met a store failure", () => {
    expect(processes.exited()).toEqual([]);
    expect(processes.warnings().filter((w) => w["event"] === "limit_store_unavailable" || Number(w["level"] ?? 60) >= 50)).toEqual([]);
  });
});
