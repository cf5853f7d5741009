import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthorizationClient, CheckRequest, CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { RateLimitRequest, RateLimitResponse, RateLimitServiceClient } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { environmentOf, interpolate, mountsOf, parseDotEnv } from "./support/compose-checks.js";
import { runHealthcheck } from "./support/healthcheck.js";
import { at, listAt } from "./support/paths.js";
import { REPO_ROOT, readRepoFile, readRepoYaml, repoPath } from "./support/repo.js";
import { freePort, startRedisServer, type RedisServer } from "../support/redis-server.js";

/**
 * Starts the real tollgate (from src/, through tsx) with the command line and environment
 * docker-compose.yml gives the container - container paths mapped back to the repository
 * folders they mount, redis://redis:6379 to a throwaway redis-server - and then talks to it
 * the way Envoy and Docker would.
 */
const compose = interpolate(readRepoYaml("docker-compose.yml"), parseDotEnv(readRepoFile(".env.example"))).value;
const service = at(compose, "services.tollgate");
const healthTest = listAt(compose, "services.tollgate.healthcheck.test").map(String);

let redis: RedisServer;
let tollgate: ChildProcess;
let exited: Promise<number | null>;
let grpcAddr: string;
const logs: string[] = [];

function commandLine(redisUrl: string): string[] {
  const byTarget = new Map(mountsOf(service).map((m) => [m.target, m.source]));
  return listAt(service, "command").map((arg) => {
    const value = String(arg);
    if (value === "redis://redis:6379") return redisUrl;
    return byTarget.get(value) ?? value;
  });
}

beforeAll(async () => {
  redis = await startRedisServer();
  grpcAddr = `0.0.0.0:${await freePort()}`;
  const env = { ...environmentOf(service), TOLLGATE_GRPC_ADDR: grpcAddr, TOLLGATE_HTTP_ADDR: `127.0.0.1:${await freePort()}` };
  const args = commandLine(redis.url);
  expect(args).toEqual(["serve", "--policies", "./policies", "--ratelimit-config", "./ratelimit", "--redis-url", redis.url]);
  const runner = `const { main } = await import("./src/cli/index.ts"); await main(["node", "tollgate", ...JSON.parse(process.env.TOLLGATE_TEST_ARGS)]);`;
  tollgate = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", runner], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, TOLLGATE_TEST_ARGS: JSON.stringify(args) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  tollgate.stdout!.on("data", (d: Buffer) => logs.push(d.toString()));
  tollgate.stderr!.on("data", (d: Buffer) => logs.push(d.toString()));
  exited = new Promise((resolve) => tollgate.once("exit", (code) => resolve(code)));
}, 30_000);

afterAll(async () => {
  if (tollgate.exitCode === null && tollgate.signalCode === null) tollgate.kill("SIGKILL");
  await redis.stop();
});

describe("tollgate as docker-compose.yml starts it", () => {
  it("becomes healthy by the compose healthcheck within 20 s", async () => {
    const deadline = Date.now() + 20_000;
    let last = { code: null as number | null, stderr: "" };
    while (Date.now() < deadline) {
      last = await runHealthcheck(healthTest, { TOLLGATE_GRPC_ADDR: grpcAddr });
      if (last.code === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(last.code, logs.join("")).toBe(0);
  }, 30_000);

  it("loaded ratelimit/config.yaml (domain tollgate) and activated the policies in ./policies", () => {
    const events = logs
      .join("")
      .split("\n")
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    expect(events.find((e) => e["event"] === "ratelimit_config_loaded")).toMatchObject({ domains: ["tollgate"], files: 1 });
    expect(events.some((e) => e["event"] === "policy_activated")).toBe(true);
  });

  const scenarios: [string, string[]][] = [
    ["ratelimit-flood-guard.json", ["20/SECOND"]],
    ["ratelimit-acme-openai.json", ["60/MINUTE", "30/MINUTE"]],
    ["ratelimit-acme-mock-llm.json", ["60/MINUTE", "unlimited"]],
    ["ratelimit-globex-anthropic.json", ["600/MINUTE", "300/MINUTE"]],
  ];
  it.each(scenarios)("answers ShouldRateLimit for fixture %s with OK and limits %j, and no headers of its own (Envoy's filter writes x-ratelimit-*)", async (file, limits) => {
    const request = RateLimitRequest.fromJSON(JSON.parse(readFileSync(repoPath(`test/fixtures/envoy/${file}`), "utf8")));
    const client = new RateLimitServiceClient(`127.0.0.1:${grpcAddr.split(":").pop()}`, credentials.createInsecure());
    try {
      const response = await new Promise<RateLimitResponse>((resolve, reject) =>
        client.shouldRateLimit(request, (err, res) => (err ? reject(err) : resolve(res))),
      );
      const json = RateLimitResponse.toJSON(response) as { overallCode: string; statuses: { code: string; currentLimit?: { requestsPerUnit?: number; unit: string }; limitRemaining?: number }[] };
      expect(json.overallCode).toBe("OK");
      expect(json.statuses.map((s) => s.code)).toEqual(limits.map(() => "OK"));
      expect(response.responseHeadersToAdd).toEqual([]);
      expect(json.statuses.map((s) => (s.currentLimit ? `${s.currentLimit.requestsPerUnit}/${s.currentLimit.unit}` : s.limitRemaining === 4294967295 ? "unlimited" : "none"))).toEqual(limits);
    } finally {
      client.close();
    }
  });

  const checks = ["check-anthropic-messages.json", "check-gemini-generate-content.json", "check-healthz.json", "check-openai-chat.json", "check-partial-body.json", "check-raw-body-audio.json"];
  it.each(checks)("answers Check for fixture %s with a CheckResponse, not a gRPC error (bodies up to max_request_bytes fit tollgate's limits)", async (file) => {
    const request = CheckRequest.fromJSON(JSON.parse(readFileSync(repoPath(`test/fixtures/envoy/${file}`), "utf8")));
    const client = new AuthorizationClient(`127.0.0.1:${grpcAddr.split(":").pop()}`, credentials.createInsecure());
    try {
      const response = await new Promise<CheckResponse>((resolve, reject) => client.check(request, (err, res) => (err ? reject(err) : resolve(res))));
      expect(response.status).toBeDefined();
      expect(response.okResponse !== undefined || response.deniedResponse !== undefined).toBe(true);
    } finally {
      client.close();
    }
  });

  it("allows the demo key's chat request without RateLimit-* headers of its own (one source per response: Envoy's)", async () => {
    const request = CheckRequest.fromJSON(JSON.parse(readFileSync(repoPath("test/fixtures/envoy/check-openai-chat.json"), "utf8")));
    const client = new AuthorizationClient(`127.0.0.1:${grpcAddr.split(":").pop()}`, credentials.createInsecure());
    try {
      const response = await new Promise<CheckResponse>((resolve, reject) => client.check(request, (err, res) => (err ? reject(err) : resolve(res))));
      expect(response.status?.code).toBe(0);
      const added = response.okResponse!.responseHeadersToAdd.map((h) => h.header?.key);
      expect(added.filter((k) => /ratelimit|retry-after/i.test(k ?? ""))).toEqual([]);
      // The policy's limits still ran: the decision carries the per-tenant counters.
      expect(JSON.stringify(response.dynamicMetadata)).toContain("requests_per_minute");
    } finally {
      client.close();
    }
  });

  it("drains and exits 0 on SIGTERM, as on `docker compose down`", async () => {
    tollgate.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 15_000);
});
