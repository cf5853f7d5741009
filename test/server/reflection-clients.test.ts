import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { goTool } from "../support/go-tools.js";

// Real reflection clients (Go's protobuf runtime validates every FileDescriptorProto it is served),
// against a real tollgate serving the shipped policies. No .proto file or protoset is passed.
const run = promisify(execFile);
const FIXTURE = "test/fixtures/envoy/check-openai-chat.json";

/** grpcurl -plaintext [flags] <server> [command…], as a user types it. */
async function grpcurl(t: TestApp, command: string[], opts: { flags?: string[]; stdin?: string } = {}): Promise<string> {
  const child = run(goTool("grpcurl"), ["-plaintext", ...(opts.flags ?? []), `127.0.0.1:${t.app.grpcPort}`, ...command], { timeout: 30_000 });
  const stdin = opts.stdin;
  if (stdin !== undefined) child.child.stdin!.end(stdin);
  return (await child).stdout;
}

describe("server reflection, read by grpcurl and ghz", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp("policies");
  }, 60_000);
  afterAll(() => t.close());

  it("lists Envoy's services, health and reflection itself", async () => {
    const services = (await grpcurl(t, ["list"])).trim().split("\n");
    expect(services).toEqual(
      expect.arrayContaining([
        "envoy.service.auth.v3.Authorization",
        "envoy.service.ratelimit.v3.RateLimitService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
  });

  it("describes every listed service, with its methods and their message types", async () => {
    const services = (await grpcurl(t, ["list"])).trim().split("\n");
    for (const s of services) {
      const out = await grpcurl(t, ["describe", s]);
      expect(out, s).toContain(`${s} is a service:`);
      expect(out, s).toMatch(/rpc \w+ \( (stream )?\.[\w.]+ \) returns \( (stream )?\.[\w.]+ \)/);
    }
    const check = await grpcurl(t, ["describe", "envoy.service.auth.v3.CheckRequest"]);
    expect(check).toContain(".envoy.service.auth.v3.AttributeContext attributes = 1;");
    // The type the issue reported as "cannot resolve type": it lives in a dependency's file.
    expect(await grpcurl(t, ["describe", "envoy.config.core.v3.Metadata"])).toContain("map<string, .google.protobuf.Struct> filter_metadata = 1;");
  }, 60_000);

  it("runs the README's Check call: the demo key's chat request is allowed", async () => {
    const out = JSON.parse(await grpcurl(t, ["envoy.service.auth.v3.Authorization/Check"], { flags: ["-d", "@"], stdin: readFileSync(FIXTURE, "utf8") })) as {
      status: { code?: number };
      okResponse?: { headers?: { header: { key: string } }[] };
    };
    expect(out.status.code ?? 0).toBe(0);
    expect(out.okResponse).toBeDefined();
  });

  it("calls grpc.health.v1.Health/Check through reflection", async () => {
    expect(JSON.parse(await grpcurl(t, ["grpc.health.v1.Health/Check"], { flags: ["-d", '{"service":"envoy.service.auth.v3.Authorization"}'] }))).toEqual({ status: "SERVING" });
  });

  it("ghz loads Check with no --protoset or --proto: 40 calls, all OK", async () => {
    const { stdout } = await run(
      goTool("ghz"),
      ["--insecure", "--call", "envoy.service.auth.v3.Authorization.Check", "--data-file", FIXTURE, "--total", "40", "--concurrency", "4", "--format", "json", `127.0.0.1:${t.app.grpcPort}`],
      { timeout: 60_000 },
    );
    const report = JSON.parse(stdout) as { count: number; statusCodeDistribution: Record<string, number>; errorDistribution?: Record<string, number> };
    expect(report.errorDistribution ?? {}).toEqual({});
    expect(report).toMatchObject({ count: 40, statusCodeDistribution: { OK: 40 } });
  }, 90_000);
});
