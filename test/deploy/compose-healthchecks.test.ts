import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockLlm, type MockLlm } from "./support/mock-llm.js";
import { listAt } from "./support/paths.js";
import { runHealthcheck } from "./support/healthcheck.js";
import { readRepoYaml } from "./support/repo.js";

/**
 * The healthcheck commands in docker-compose.yml, run here for real (node, bash, sh and
 * redis-cli exist on this machine and in the images) against live stand-ins.
 */
const compose = readRepoYaml("docker-compose.yml");
const healthTest = (service: string): string[] => listAt(compose, `services.${service}.healthcheck.test`).map(String);

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe("tollgate healthcheck (grpc.health.v1 Check via @grpc/grpc-js)", () => {
  let server: grpc.Server;
  let health: HealthImplementation;
  let port: number;
  beforeAll(async () => {
    server = new grpc.Server();
    health = new HealthImplementation({ "": "SERVING" });
    health.addToServer(server);
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  });
  afterAll(() => {
    server.forceShutdown();
  });

  it("exits 0 while the server reports SERVING, reading the port from TOLLGATE_GRPC_ADDR", async () => {
    health.setStatus("", "SERVING");
    expect(await runHealthcheck(healthTest("tollgate"), { TOLLGATE_GRPC_ADDR: `0.0.0.0:${port}` })).toEqual({ code: 0, stderr: "" });
  });

  it("exits 1 when the server reports NOT_SERVING", async () => {
    health.setStatus("", "NOT_SERVING");
    expect((await runHealthcheck(healthTest("tollgate"), { TOLLGATE_GRPC_ADDR: `0.0.0.0:${port}` })).code).toBe(1);
    health.setStatus("", "SERVING");
  });

  it("exits 1 when nothing listens", async () => {
    expect((await runHealthcheck(healthTest("tollgate"), { TOLLGATE_GRPC_ADDR: `[::]:${await freePort()}` })).code).toBe(1);
  });
});

describe("mock-llm healthcheck (fetch /healthz)", () => {
  let mock: MockLlm;
  beforeAll(async () => {
    mock = await startMockLlm();
  });
  afterAll(async () => {
    await mock.stop();
  });

  it("exits 0 against a running mock-llm on $PORT", async () => {
    expect(await runHealthcheck(healthTest("mock-llm"), { PORT: new URL(mock.url).port })).toEqual({ code: 0, stderr: "" });
  });

  it("exits 1 when nothing listens on $PORT", async () => {
    expect((await runHealthcheck(healthTest("mock-llm"), { PORT: String(await freePort()) })).code).toBe(1);
  });
});

describe("envoy healthcheck (bash /dev/tcp to the admin /ready)", () => {
  let admin: HttpServer;
  let port: number;
  let state = "LIVE";
  const seen: string[] = [];
  beforeAll(async () => {
    admin = createHttpServer((req, res) => {
      seen.push(`${req.method} ${req.url} HTTP/${req.httpVersion}`);
      res.writeHead(state === "LIVE" ? 200 : 503, { "content-type": "text/plain" });
      res.end(`${state}\n`);
    });
    await new Promise<void>((r) => admin.listen(0, "127.0.0.1", r));
    port = (admin.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((r) => admin.close(r));
  });

  const onPort = (p: number): string[] => {
    const test = healthTest("envoy");
    expect(test[3]).toContain("/dev/tcp/127.0.0.1/9901");
    return [...test.slice(0, 3), test[3]!.replace("/9901", `/${p}`)];
  };

  it("exits 0 when /ready answers LIVE, sending a well-formed HTTP/1.1 request", async () => {
    state = "LIVE";
    expect((await runHealthcheck(onPort(port))).code).toBe(0);
    expect(seen.at(-1)).toBe("GET /ready HTTP/1.1");
  });

  it("exits non-zero while Envoy is still initializing", async () => {
    state = "PRE_INITIALIZING";
    expect((await runHealthcheck(onPort(port))).code).not.toBe(0);
    state = "LIVE";
  });

  it("exits non-zero when the admin port is closed", async () => {
    expect((await runHealthcheck(onPort(await freePort()))).code).not.toBe(0);
  });
});

describe("redis healthcheck (redis-cli ping | grep PONG)", () => {
  it("exits 0 against the Redis on the default port", async () => {
    expect((await runHealthcheck(healthTest("redis"))).code).toBe(0);
  });

  it("exits non-zero when Redis does not answer", async () => {
    const test = healthTest("redis");
    const closed = await freePort();
    expect((await runHealthcheck([test[0]!, test[1]!.replace("redis-cli ping", `redis-cli -p ${closed} ping`)])).code).not.toBe(0);
  });
});
