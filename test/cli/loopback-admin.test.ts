import { readFileSync, statSync, writeFileSync, existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writePolicyDir } from "../support/app.js";
import { runCliAsync, serve, type Served } from "../support/cli.js";
import { waitFor } from "../support/wait.js";

// The quick-start server (loopback admin API, no token configured) as a real process, changed by
// file edits and by the real CLI: a refused edit shows OPA's message in /v1/status and
// /v1/policy/history, and rollback works without a restart through the token the server wrote
// (0600) for its own port. (test/policy/unchanged-revision.test.ts covers unchanged saves.)
const policy = (limit: number) => `package envoy.authz\n\nallow := {"allowed": true, "headers": {"x-limit": "${limit}"}}\n`;
const TEST = "package envoy.authz_test\n\nimport data.envoy.authz\n\ntest_allows if authz.allow.allowed\n";

interface HistoryEntry {
  event: string;
  revision?: string;
  previousRevision?: string;
  reason?: string;
}

describe("a loopback tollgate without an admin token", () => {
  let s: Served;
  let dir: string;
  let tokenDir: string;
  let admin: string;
  beforeAll(async () => {
    dir = writePolicyDir({ "p.rego": policy(60), "p_test.rego": TEST });
    tokenDir = mkdtempSync(path.join(os.tmpdir(), "tollgate-local-token-"));
    s = await serve(["--policies", dir, "--admin-local-token-dir", tokenDir]);
    const port = Number(/"admin_port":(\d+)/.exec(s.output.join(""))![1]);
    admin = `http://127.0.0.1:${port}`;
  }, 60_000);
  afterAll(async () => {
    s.proc.kill("SIGTERM");
    await s.exited;
  });

  const get = async <T>(p: string): Promise<T> => (await (await fetch(admin + p)).json()) as T;
  const history = async () => (await get<{ entries: HistoryEntry[] }>("/v1/policy/history")).entries;
  const status = () => get<{ policy: { activeRevision: string; revisions: string[]; lastRejection?: { reason: string } } }>("/v1/status");
  const rollback = (...args: string[]) => runCliAsync(["rollback", ...args, "--admin-url", admin, "--local-token-dir", tokenDir]);

  it("writes a generated token for its port, readable by its user only", () => {
    const file = path.join(tokenDir, `admin-${new URL(admin).port}.token`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8").trim()).toMatch(/^[\w-]{43}$/);
  });

  it("state-changing calls still need that token; reads stay open on loopback", async () => {
    expect((await fetch(`${admin}/v1/policy/rollback`, { method: "POST", body: "{}" })).status).toBe(401);
    expect((await fetch(`${admin}/v1/status`)).status).toBe(200);
  });

  it("a change, a refused edit and a rollback by the CLI show in history and status", async () => {
    const first = (await status()).policy.activeRevision;
    writeFileSync(path.join(dir, "p.rego"), policy(120));
    await waitFor(async () => (await status()).policy.activeRevision !== first, 20_000, "the 120 revision");
    const second = (await status()).policy.activeRevision;
    expect((await history()).map((e) => e.event)).toEqual(["activated", "activated"]);

    writeFileSync(path.join(dir, "p.rego"), "package envoy.authz\n\nallow := {\n");
    await waitFor(async () => (await status()).policy.lastRejection !== undefined, 20_000, "the rejection");
    const rejection = (await status()).policy.lastRejection!;
    expect(rejection.reason).toMatch(/p\.rego:\d+/);
    const [newest] = await history();
    expect(newest).toMatchObject({ event: "rejected", reason: rejection.reason });
    expect((await status()).policy.activeRevision).toBe(second);

    const back = await rollback();
    expect(back.stderr).toBe("");
    expect(back.status).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ action: "rollback", revision: first, previousRevision: second });
    expect((await status()).policy).toMatchObject({ activeRevision: first, revisions: [second, first] });

    const none = await rollback();
    expect(none.status).not.toBe(0);
    expect(none.stderr).toMatch(/no earlier revision to roll back to/);
    expect((await status()).policy.activeRevision).toBe(first);
  }, 90_000);

  it("removes its token file when it stops", async () => {
    const file = path.join(tokenDir, `admin-${new URL(admin).port}.token`);
    expect(existsSync(file)).toBe(true);
    s.proc.kill("SIGTERM");
    await s.exited;
    expect(existsSync(file)).toBe(false);
  });
});
