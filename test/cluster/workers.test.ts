import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve, type Served } from "../support/cli.js";
import { waitFor } from "../support/wait.js";
import { Clients, summarize, tempDir } from "../e2e/support.js";

// `tollgate serve --workers 2`: real processes (a primary and two node:cluster workers) on one
// gRPC port and one admin port.

const POLICY = (version: string) => `package envoy.authz

allow := {"allowed": true, "response_headers_to_add": {"x-policy-version": "${version}"}}
`;

interface Status {
  policy: { activeRevision?: string };
  workers?: { id: number; pid: number; revision?: string }[];
}

let served: Served;
/** The first file's revision, which a worker started after the edit never loads. */
let revisionOne: string;
let dir: string;
let adminPort: number;
let tokenDir: string;
const TOKEN = "workers-test-admin-token-0123456789";

const get = async (p: string): Promise<Response> =>
  fetch(`http://127.0.0.1:${adminPort}${p}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(10_000) });
const post = async (p: string, body: Record<string, unknown>): Promise<Response> =>
  fetch(`http://127.0.0.1:${adminPort}${p}`, { method: "POST", body: JSON.stringify(body), headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, signal: AbortSignal.timeout(10_000) });
const status = async (): Promise<Status> => (await (await get("/v1/status")).json()) as Status;
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Checks over fresh connections (round-robin hands each new connection to the next worker). */
async function checks(n: number): Promise<string[]> {
  const versions: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = new Clients(served.port);
    try {
      const s = summarize(await c.check({ path: "/x" }));
      versions.push(`${s.status}:${s.headers["x-policy-version"]?.[0] ?? ""}`);
    } finally {
      c.close();
    }
  }
  return versions;
}

beforeAll(async () => {
  dir = tempDir("workers-policy", { "p.rego": POLICY("one") });
  tokenDir = tempDir("workers-token", { token: TOKEN });
  served = await serve(["--workers", "2", "--policies", dir, "--no-policy-tests", "--log-level", "info", "--admin-token-file", path.join(tokenDir, "token")], { TOLLGATE_SHUTDOWN_GRACE_MS: "1000" });
  const m = /"admin_port":(\d+)/.exec(served.output.join(""));
  adminPort = Number(m?.[1]);
  await waitFor(async () => (await status().catch(() => ({}) as Status)).workers?.filter((w) => w.revision).length === 2, 30_000, "two workers with a revision");
}, 60_000);

afterAll(async () => {
  if (served.proc.exitCode === null) served.proc.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
  rmSync(tokenDir, { recursive: true, force: true });
});

describe("--workers 2", () => {
  it("two worker processes serve the same revision on one port, and /v1/status lists each", async () => {
    const s = await status();
    expect(s.workers).toHaveLength(2);
    const [a, b] = s.workers!;
    expect(a!.pid).not.toBe(b!.pid);
    expect(a!.pid).not.toBe(served.proc.pid);
    expect(a!.revision).toBe(b!.revision);
    expect(a!.revision).toBe(s.policy.activeRevision);
    expect(await checks(6)).toEqual(Array(6).fill("200:one"));
    // No reservationKeyFile: each worker took the primary's one key (so any worker can reconcile another's reservations).
    expect(served.output.join("").match(/"event":"reservation_key_random"[^\n]*share one random key of this primary/g)).toHaveLength(2);
  });

  it("/metrics is one scrape of every worker: Check counts add up across workers", async () => {
    const count = async (): Promise<number> => {
      const text = await (await get("/metrics")).text();
      let total = 0;
      for (const [, v] of text.matchAll(/^tollgate_check_total\{[^}]*\} (\d+)/gm)) total += Number(v);
      return total;
    };
    const before = await count();
    await checks(10);
    expect(await count()).toBe(before + 10);
    // The revision gauge is not summed: each revision served shows 1.
    expect(await (await get("/metrics")).text()).toMatch(/^tollgate_policy_info\{revision="[^"]+"\} 1$/m);
  });

  it("a policy edit reaches every worker: both report the new revision and answer with it", async () => {
    const old = (await status()).policy.activeRevision;
    writeFileSync(path.join(dir, "p.rego"), POLICY("two"));
    await waitFor(async () => {
      const w = (await status()).workers ?? [];
      return w.length === 2 && w.every((x) => x.revision !== undefined && x.revision !== old) && w[0]!.revision === w[1]!.revision;
    }, 30_000, "both workers on the new revision");
    expect(await checks(6)).toEqual(Array(6).fill("200:two"));
  }, 40_000);

  it("a rollback through the admin API reaches every worker: both serve the earlier revision, then a named one", async () => {
    const before = (await status()).workers!;
    const res = await post("/v1/policy/rollback", {});
    const body = (await res.json()) as { revision: string; previousRevision: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.previousRevision).toBe(before[0]!.revision);
    expect(body.revision).not.toBe(before[0]!.revision);
    expect((await status()).workers!.map((w) => w.revision)).toEqual([body.revision, body.revision]);
    expect(await checks(6)).toEqual(Array(6).fill("200:one"));
    expect(served.output.join("").match(/"event":"policy_rollback"/g)).toHaveLength(2);
    revisionOne = body.revision;
    // Back to the revision the files hold, by name, so a restarted worker agrees again.
    const forward = await post("/v1/policy/rollback", { revision: before[0]!.revision });
    expect(forward.status).toBe(200);
    expect((await status()).workers!.map((w) => w.revision)).toEqual([before[0]!.revision, before[0]!.revision]);
    expect(await checks(4)).toEqual(Array(4).fill("200:two"));
  });

  it("a worker that dies is replaced, on the same revision, and the port keeps answering", async () => {
    const before = (await status()).workers!;
    process.kill(before[0]!.pid, "SIGKILL");
    await waitFor(async () => {
      const w = (await status().catch(() => ({}) as Status)).workers ?? [];
      return w.length === 2 && !w.some((x) => x.pid === before[0]!.pid) && w.every((x) => x.revision === before[1]!.revision);
    }, 30_000, "a replacement worker on the same revision");
    expect(await checks(4)).toEqual(Array(4).fill("200:two"));
    expect(served.output.join("")).toContain('"event":"worker_exited"');
  }, 40_000);

  it("a rollback one worker cannot make (its replacement never loaded that revision) is refused, and no worker changes", async () => {
    const before = (await status()).workers!.map((w) => w.revision);
    const res = await post("/v1/policy/rollback", { revision: revisionOne });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/refused, no worker changed: worker \d+ \(pid \d+\): revision \S+ is not among the 1 kept revisions/);
    expect((await status()).workers!.map((w) => w.revision)).toEqual(before);
    expect(await checks(4)).toEqual(Array(4).fill("200:two"));
  });

  it("a rollback to an unknown revision, and a promotion without a candidate, are refused and change nothing", async () => {
    const before = (await status()).workers!.map((w) => w.revision);
    const unknown = await post("/v1/policy/rollback", { revision: "no-such-revision" });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("not among the");
    const promote = await post("/v1/policy/promote", {});
    expect(promote.status).toBe(400);
    expect(await promote.text()).toContain("no candidate");
    expect((await status()).workers!.map((w) => w.revision)).toEqual(before);
  });

  it("SIGTERM on the primary drains and stops every worker, then the primary exits 0", async () => {
    const pids = (await status()).workers!.map((w) => w.pid);
    served.proc.kill("SIGTERM");
    expect(await served.exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    expect(readFileSync(path.join(dir, "p.rego"), "utf8")).toContain("two");
  }, 30_000);
});
