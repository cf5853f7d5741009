import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthorizationClient, type CheckRequest, type CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { sentinelRequest, type Sentinel } from "../../src/observability/mask-self-test.js";
import { call } from "../admin/http-client.js";
import { LogServer, waitFor } from "../decision-log/log-server.js";
import { checkRequest } from "../support/app.js";
import { serve, type Served } from "../support/cli.js";

/**
 * Issue 13, end to end: a real `tollgate serve` process with the shipped LLM pack, input and body
 * logging on (the hardest case: body text kept, masked), uploads to a real receiver, an audit file
 * and a token-protected admin server. Real gRPC Checks carry a fresh sentinel secret of every kind
 * in every field; then every sink is read back and searched: zero hits.
 */
const TOKEN = "sentinel-e2e-admin-token-93b1";

describe("sentinel secrets in every field never reach any sink (real process, real gRPC, real receiver)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-sentinels-"));
  const auditFile = path.join(dir, "audit.jsonl");
  const tokenFile = path.join(dir, "admin-token");
  let receiver: LogServer;
  let server: Served;
  let adminUrl: string;
  const sentinels: Sentinel[] = [];
  const admin: Record<string, string> = {};
  const responses: CheckResponse[] = [];

  const check = (client: AuthorizationClient, req: CheckRequest) =>
    new Promise<CheckResponse>((resolve, reject) => client.check(req, (err: ServiceError | null, res?: CheckResponse) => (err ? reject(err) : resolve(res!))));

  beforeAll(async () => {
    writeFileSync(tokenFile, `${TOKEN}\n`);
    receiver = await LogServer.start();
    server = await serve(["--policies", "policies", "--no-watch", "--log-decision-input", "--log-decision-body", "--decision-log-url", receiver.url, "--audit-file", auditFile, "--admin-token-file", tokenFile]);
    const m = /"admin_port":(\d+)/.exec(server.output.join(""));
    adminUrl = `http://127.0.0.1:${m![1]}`;
    const client = new AuthorizationClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    // Three fresh sets: one as is, one with the demo tenant's key (so the prompt guard is reached),
    // one as a form body (the raw body is not JSON).
    for (const variant of ["as-is", "known-key", "form"] as const) {
      const { request, sentinels: s } = sentinelRequest();
      sentinels.push(...s);
      const http = request.attributes!.request!.http!;
      if (variant === "known-key") http.headers["authorization"] = "Bearer tg-demo-acme-key";
      if (variant === "form") {
        const body = JSON.parse(http.body) as { api_key: string; messages: { content: string }[] };
        http.body = new URLSearchParams({ api_key: body.api_key, prompt: body.messages[0]!.content }).toString();
        http.headers["content-type"] = "application/x-www-form-urlencoded";
        http.size = Buffer.byteLength(http.body);
      }
      responses.push(await check(client, request));
    }
    // The issue's own reproduction: AWS and PEM keys in a prompt sent with a valid key.
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAissue13PemBodyZz\n-----END RSA PRIVATE KEY-----";
    sentinels.push({ name: "issue AWS key", value: "AKIAISSUE13EXAMPLE7Q" }, { name: "issue PEM body", value: "MIIEowIBAAKCAQEAissue13PemBodyZz" });
    responses.push(
      await check(client, checkRequest({
        method: "POST", path: "/v1/chat/completions",
        headers: { authorization: "Bearer tg-demo-acme-key", "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: `key AKIAISSUE13EXAMPLE7Q and ${pem}` }] }),
      })),
    );
    client.close();
    // An operator name carrying a secret, on an audited call (refused: there is nothing to roll back to).
    sentinels.push({ name: "operator AWS key", value: "AKIAOPERATOR13XYZ7Q2" });
    await call(`${adminUrl}/v1/policy/rollback`, { method: "POST", token: TOKEN, headers: { "x-tollgate-operator": "ops AKIAOPERATOR13XYZ7Q2", "content-type": "application/json" }, body: "{}" });

    for (const p of ["/v1/status", "/v1/policy/history", "/v1/usage", "/v1/dashboard", "/metrics", "/v1/report?format=json", "/v1/report?format=html", "/v1/report?format=csv"]) {
      const r = await call(`${adminUrl}${p}`, { token: TOKEN });
      expect(r.status, p).toBe(200);
      admin[p] = r.body;
    }
    await waitFor(() => receiver.received.reduce((n, r) => n + r.events.length, 0) >= 4, 15_000);
    server.proc.kill("SIGTERM");
    await server.exited;
  }, 120_000);

  afterAll(async () => {
    if (server && server.proc.exitCode === null) server.proc.kill("SIGKILL");
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hits = (text: string) => sentinels.filter((s) => [s.value, encodeURIComponent(s.value)].some((f) => text.includes(f))).map((s) => s.name);

  it("the Checks were answered: unknown key, then the prompt guard for the demo key", () => {
    expect(responses.map((r) => r.deniedResponse?.status?.code)).toEqual([401, 403, 401, 403]);
    expect(sentinels.length).toBe(3 * 47 + 3);
  });

  it("console: zero hits, decision lines name the guard patterns only", () => {
    const console = server.output.join("");
    expect(hits(console)).toEqual([]);
    expect(console).not.toContain("PRIVATE KEY-----");
    expect(console).toContain("[REDACTED:aws_access_key]");
    expect(console).toContain('"guard_hits":["aws_access_key","private_key"]');
  });

  it("uploaded decision logs: zero hits, in every event the receiver got", () => {
    const uploaded = receiver.received.map((r) => r.text).join("\n");
    expect(receiver.received.reduce((n, r) => n + r.events.length, 0)).toBe(4);
    expect(hits(uploaded)).toEqual([]);
    expect(uploaded).not.toContain("PRIVATE KEY-----");
    // The LLM pack's data.system.log.mask removed the prompt fields; tollgate says which.
    const events = receiver.received.flatMap((r) => r.events);
    expect(events.every((e) => (e["erased"] as string[]).includes("/input/llm/texts"))).toBe(true);
  });

  it("audit trail: zero hits", () => {
    expect(hits(readFileSync(auditFile, "utf8"))).toEqual([]);
  });

  it.each(["/v1/status", "/v1/policy/history", "/v1/usage", "/v1/dashboard", "/metrics", "/v1/report?format=json", "/v1/report?format=html", "/v1/report?format=csv"])("admin %s: zero hits", (p) => {
    expect(hits(admin[p]!)).toEqual([]);
  });

  it("the report's LM-1 passed on the running process's own self-test, and says which settings it read", () => {
    const report = JSON.parse(admin["/v1/report?format=json"]!) as { items: { id: string; status: string; evidence: string; source: string }[] };
    const lm1 = report.items.find((i) => i.id === "LM-1")!;
    expect([lm1.status, lm1.source]).toEqual(["pass", "self-test"]);
    expect(lm1.evidence).toContain("through console decision line, uploaded decision log, audit trail record, admin API and report: none found");
    expect(lm1.evidence).toContain("--log-decision-input on, --log-decision-body on, decision-log upload on, data.system.log.mask defined");
  });
});
