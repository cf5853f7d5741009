import { createHash } from "node:crypto";
import { writeFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { AuthorizationClient, CheckRequest, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { checkRequest, writePolicyDir } from "../support/app.js";
import { runCli, serve } from "../support/cli.js";

describe("tollgate serve – configuration errors", () => {
  it.each([
    [["--grpc-addr", "nonsense"], {}, /invalid setting grpcAddr: expected host:port/],
    [["--decision-path", "envoy//allow"], {}, /invalid setting decisionPath/],
    [["--on-decision-error", "shrug"], {}, /invalid setting onDecisionError/],
    [[], { TOLLGATE_LOG_LEVEL: "loud" }, /invalid setting logLevel/],
    [[], { TOLLGATE_REDIS_URL: "not a url" }, /invalid setting redisUrl/],
    [["--policies", "/nonexistent/tollgate"], {}, /policies directory \/nonexistent\/tollgate does not exist/],
  ] as const)("%j %j – one clear line naming the key, exit 2", (args, env, message) => {
    const r = runCli(["serve", ...args], env);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it("a YAML config file is read and checked with the same schema", () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "tg-cfg-")), "tollgate.yaml");
    writeFileSync(file, "grpcAddr: 127.0.0.1:0\nlimits:\n  maxBodyBytes: -5\n");
    const r = runCli(["serve", "--config", file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid setting limits\.maxBodyBytes/);
  });
});

describe("tollgate serve – SIGTERM", () => {
  it("drains the in-flight call, answers it, then exits 0", async () => {
    // A policy that burns ~a second of CPU so a call is still in flight when SIGTERM lands.
    const dir = writePolicyDir({ "p.rego": "package envoy.authz\n\nallow if count([1 | some i in numbers.range(1, 1000); some j in numbers.range(1, 1000); i == j]) > 0\n" });
    const s = await serve(["--policies", dir, "--no-watch"]);
    const client = new AuthorizationClient(`127.0.0.1:${s.port}`, credentials.createInsecure());
    const answer = new Promise<CheckResponse>((resolve, reject) => client.check(checkRequest({}), (err, res) => (err ? reject(err) : resolve(res!))));
    await new Promise((r) => setTimeout(r, 150));
    s.proc.kill("SIGTERM");
    const res = await answer;
    expect(res.status?.code).toBe(0);
    expect(await s.exited).toBe(0);
    client.close();
    expect(s.output.join("")).toContain('"event":"shutdown"');
  }, 60_000);
});

describe("tollgate eval", () => {
  const dir = writePolicyDir({ "p.rego": 'package envoy.authz\n\nallow := {"allowed": false, "http_status": 401, "body": "who?"} if not input.attributes.request.http.headers["x-user"]\nallow := {"allowed": true, "headers": {"x-seen": "yes"}} if input.attributes.request.http.headers["x-user"]\n' });
  const write = (req: unknown) => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "tg-eval-")), "req.json");
    writeFileSync(file, typeof req === "string" ? req : JSON.stringify(req));
    return file;
  };

  it("prints the CheckResponse as JSON for a CheckRequest in protobuf JSON", () => {
    const req = CheckRequest.toJSON(checkRequest({ path: "/x", headers: { "x-user": "alice" } }));
    const r = runCli(["eval", "--input", write(req), "--policies", dir]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { status: { code?: number }; okResponse: { headers: { header: { key: string; value: string } }[] } };
    expect(out.okResponse.headers[0]!.header).toEqual({ key: "x-seen", value: "yes" });
  });

  it("denials print too, with status and body", () => {
    const r = runCli(["eval", "--input", write(CheckRequest.toJSON(checkRequest({}))), "--policies", dir]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: { code: 7 }, deniedResponse: { status: { code: "Unauthorized" }, body: "who?" } });
  });

  it.each([
    ["unparseable input file", "{not json", /req\.json/],
    ["missing file", undefined, /ENOENT/],
  ])("%s – exits non-zero with the reason", (_n, content, message) => {
    const file = content === undefined ? "/nonexistent/req.json" : write(content);
    const r = runCli(["eval", "--input", file, "--policies", dir]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it("a broken policy – exits non-zero with OPA's message", () => {
    const bad = writePolicyDir({ "p.rego": "package envoy.authz\n\nallow := {\n" });
    const r = runCli(["eval", "--input", write(CheckRequest.toJSON(checkRequest({}))), "--policies", bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/p\.rego:\d+: rego_parse_error/);
  });
});

describe("tollgate keys", () => {
  it("hash – prints the SHA-256 hex that policy data stores", () => {
    const r = runCli(["keys", "hash", "tg-demo-acme-key"]);
    expect(r.stdout.trim()).toBe(createHash("sha256").update("tg-demo-acme-key").digest("hex"));
  });

  it("new – prints a fresh key with its matching hash", () => {
    const { key, sha256 } = JSON.parse(runCli(["keys", "new"]).stdout) as { key: string; sha256: string };
    expect(key).toMatch(/^tg-[A-Za-z0-9_-]{32}$/);
    expect(sha256).toBe(createHash("sha256").update(key).digest("hex"));
  });
});
