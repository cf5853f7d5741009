import { writeFileSync } from "node:fs";
import path from "node:path";
import { credentials, loadPackageDefinition, makeGenericClientConstructor, type GrpcObject, type ServiceClientConstructor } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRequest, startTestApp, writePolicyDir, type TestApp } from "../support/app.js";
import { waitFor } from "../support/wait.js";

const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");

function healthOf(t: TestApp, service: string): Promise<string> {
  const client = new HealthClient(`127.0.0.1:${t.app.grpcPort}`, credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client["check"]!({ service }, (err: Error | null, res: { status: string }) => {
      client.close();
      if (err) reject(err);
      else resolve(res.status);
    }),
  );
}

describe("grpc.health.v1", () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = writePolicyDir({ "p.rego": "package envoy.authz\n\nallow := {\n" });
    t = await startTestApp(dir, { watch: true });
  });
  afterAll(() => t.close());

  it("NOT_SERVING while no policy has loaded; Check answers UNAVAILABLE; SERVING after a good edit", async () => {
    expect(await healthOf(t, "envoy.service.auth.v3.Authorization")).toBe("NOT_SERVING");
    await expect(t.check(checkRequest({}))).rejects.toMatchObject({ code: 14 });
    writeFileSync(path.join(dir, "p.rego"), "package envoy.authz\n\nallow := true\n");
    await waitFor(async () => (await healthOf(t, "envoy.service.auth.v3.Authorization")) === "SERVING", 15_000, "SERVING", 50);
    expect((await t.check(checkRequest({}))).status?.code).toBe(0);
    expect(await healthOf(t, "")).toBe("SERVING");
  });
});

describe("server reflection", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ "p.rego": "package envoy.authz\n\nallow := true\n" });
  });
  afterAll(() => t.close());

  function reflect(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    const def = loadSync(path.join("node_modules/@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto"), { keepCase: true });
    const pkg = loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1alpha: GrpcObject } } };
    const Ctor = pkg.grpc.reflection.v1alpha["ServerReflection"] as ServiceClientConstructor;
    const client = new Ctor(`127.0.0.1:${t.app.grpcPort}`, credentials.createInsecure());
    return new Promise((resolve, reject) => {
      const call = (client as unknown as { ServerReflectionInfo(): NodeJS.EventEmitter & { write(m: unknown): void; end(): void } }).ServerReflectionInfo();
      call.on("data", (msg: Record<string, unknown>) => {
        resolve(msg);
        call.end();
        client.close();
      });
      call.on("error", reject);
      call.write(request);
    });
  }

  it("lists ext_authz, ratelimit, ext_proc and health, so grpcurl and ghz need no proto files", async () => {
    const res = await reflect({ list_services: "*" });
    const names = (res["list_services_response"] as { service: { name: string }[] }).service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["envoy.service.auth.v3.Authorization", "envoy.service.ratelimit.v3.RateLimitService", "envoy.service.ext_proc.v3.ExternalProcessor", "grpc.health.v1.Health"]));
  });

  it("serves the descriptor of the ExternalProcessor service, and health reports it SERVING", async () => {
    const res = await reflect({ file_containing_symbol: "envoy.service.ext_proc.v3.ExternalProcessor" });
    const files = (res["file_descriptor_response"] as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
    expect(Buffer.concat(files).toString("latin1")).toContain("envoy/service/ext_proc/v3/external_processor.proto");
    expect(await healthOf(t, "envoy.service.ext_proc.v3.ExternalProcessor")).toBe("SERVING");
  });

  it("serves the descriptor of the Authorization service", async () => {
    const res = await reflect({ file_containing_symbol: "envoy.service.auth.v3.Authorization" });
    const files = (res["file_descriptor_response"] as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString("latin1")).toContain("envoy/service/auth/v3/external_auth.proto");
  });
});
