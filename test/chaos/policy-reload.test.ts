import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runOpa } from "../../src/policy/opa-cli.js";
import { capabilitiesFile } from "../../src/paths.js";
import { call } from "../admin/http-client.js";
import { Clients, Processes, sleep } from "../e2e/support.js";

/**
 * The shipped LLM gateway policy (policies/, with its opa tests) served by a real tollgate process
 * under 100 Checks/s, edited 20 times per attempt: each edit must be active in under 1 s at the 95th
 * percentile, and Check p99 while a reload runs must be no worse than twice the p99 of the quiet
 * stretches between reloads (same process, same load, interleaved, so a machine busy with other
 * work raises both). Before: edits went live in 831-2,037 ms under load, and Check p99 rose to
 * 226 ms during reloads, then 89 vs 17.6 ms once opa ran from a worker thread.
 *
 * Activation is read from tollgate's own log line, not by polling /v1/status, whose masking
 * self-test would load the server only during reloads and skew the comparison. opa itself (build
 * and test of the folder, as tollgate runs them) is measured after the edits, under the same load:
 * when the machine is so busy that opa alone takes more than half the budget, the excess is added
 * to the bound. tollgate's own share of an edit's path is held to 500 ms either way.
 */

/** Up to 20 edits per attempt; on a slow machine fewer, but never under 8, once EDITING_BUDGET_MS has passed. */
const EDITS = 20;
const MIN_EDITS = 8;
const EDITING_BUDGET_MS = 30_000;
const ATTEMPTS = 3;
const EDIT_TO_ACTIVE_P95_MS = 1000;
const OPA_SHARE_MS = 500;
const BARE_OPA_RUNS = 5;
/** The promise: Check p99 during a reload at most twice the quiet p99. */
const RELOAD_P99_RATIO = 2;
/**
 * When the quiet p99 is a few ms (an idle machine), one scheduler time slice given to an opa
 * thread (Linux's default latency target is 6 ms) is more than the quiet p99 itself: the ratio
 * is held above this floor only.
 */
const RELOAD_P99_FLOOR_MS = 6;

const processes = new Processes();
let dir: string;
let client: Clients;
let adminUrl: string;
/** performance.now() of each policy_activated line tollgate logged. */
const activations: number[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-reload-"));
  cpSync(path.resolve("policies"), dir, { recursive: true });
  const started = await processes.start(["--policies", dir]);
  let rest = "";
  started.proc.stdout!.on("data", (chunk: Buffer) => {
    const lines = (rest + chunk.toString("utf8")).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) if (line.includes('"event":"policy_activated"')) activations.push(performance.now());
  });
  client = new Clients(started.port);
  adminUrl = `http://127.0.0.1:${started.adminPort}`;
  await client.check(chatRequest());
}, 120_000);

afterAll(async () => {
  client?.close();
  await processes.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

function chatRequest(): Parameters<Clients["check"]>[0] {
  return {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { "content-type": "application/json", authorization: "Bearer tg-demo-acme-key" },
    body: JSON.stringify({ model: "gpt-4o-mini", max_tokens: 16, messages: [{ role: "user", content: "Say hello in one short sentence." }] }),
  };
}

async function activeRevision(): Promise<string | undefined> {
  const reply = await call(`${adminUrl}/v1/status`);
  return reply.json<{ policy: { activeRevision?: string } }>().policy.activeRevision;
}

interface Timed {
  startedAt: number;
  ms: number;
}

/** opa build ∥ opa test of a copy of the folder, as tollgate runs them (same priority): the part tollgate does not control. */
async function bareOpa(): Promise<number> {
  const copy = mkdtempSync(path.join(os.tmpdir(), "tollgate-bare-"));
  try {
    cpSync(dir, copy, { recursive: true });
    const started = performance.now();
    await Promise.all([
      runOpa(["build", "-t", "wasm", "-e", "envoy/authz/allow", "--capabilities", capabilitiesFile, "--ignore", "*_test.rego", "-o", path.join(copy, "..", `${path.basename(copy)}.tar.gz`), copy], { background: true }),
      runOpa(["test", copy], { background: true }),
    ]);
    return performance.now() - started;
  } finally {
    rmSync(copy, { recursive: true, force: true });
    rmSync(`${copy}.tar.gz`, { force: true });
  }
}

function p(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * q) - 1)] ?? Number.NaN;
}

interface Attempt {
  editToActive: number[];
  withoutReload: number[];
  duringReload: number[];
}

/** Edits the folder `edits` times under 100 Checks/s; Check latencies split into quiet stretches and reloads. */
async function editUnderLoad(edits: number, budgetMs: number): Promise<Attempt> {
  const checks: Timed[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const startedAt = performance.now();
    const done = client.check(chatRequest()).then(
      () => void checks.push({ startedAt, ms: performance.now() - startedAt }),
      () => void checks.push({ startedAt, ms: Number.POSITIVE_INFINITY }),
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  }, 10);
  const reloads: { from: number; to: number }[] = [];
  const quiet: { from: number; to: number }[] = [];
  const editToActive: number[] = [];
  try {
    await sleep(500);
    const editingFrom = performance.now();
    for (let i = 0; i < edits && (i < MIN_EDITS || performance.now() - editingFrom < budgetMs); i++) {
      // A quiet stretch starts once the previous reload's tail (50 ms, below) is over.
      await sleep(100);
      const quietFrom = performance.now();
      await sleep(400);
      quiet.push({ from: quietFrom, to: performance.now() });
      const seen = activations.length;
      const editedAt = performance.now();
      appendFileSync(path.join(dir, "tollgate", "limits.rego"), `\n# edit ${editCount++}\n`);
      while (activations.length === seen) {
        if (performance.now() - editedAt > 60_000) throw new Error(`edit ${i} not active after 60 s`);
        await sleep(5);
      }
      const activeAt = activations[seen]!;
      editToActive.push(activeAt - editedAt);
      // The swap's tail: Checks already queued when the new revision went live.
      reloads.push({ from: editedAt, to: activeAt + 50 });
    }
  } finally {
    clearInterval(timer);
    await Promise.all(pending);
  }
  expect(checks.every((c) => Number.isFinite(c.ms))).toBe(true);
  const within = (ranges: { from: number; to: number }[]) => checks.filter((c) => ranges.some((r) => c.startedAt >= r.from && c.startedAt <= r.to)).map((c) => c.ms);
  return { editToActive, withoutReload: within(quiet), duringReload: within(reloads) };
}

let editCount = 0;

describe("chaos: policy edits under load", () => {
  it(`edits under 100 Checks/s: active in < 1 s (p95); Check p99 during reloads within ${RELOAD_P99_RATIO}x the quiet p99`, async () => {
    const revisionBefore = await activeRevision();
    const attempts: Attempt[] = [];
    const held = (a: Attempt) => p(a.duringReload, 0.99) <= Math.max(RELOAD_P99_RATIO * p(a.withoutReload, 0.99), p(a.withoutReload, 0.99) + RELOAD_P99_FLOOR_MS);
    while (attempts.length < ATTEMPTS && !attempts.some(held)) attempts.push(await editUnderLoad(EDITS, EDITING_BUDGET_MS));
    expect(await activeRevision()).not.toBe(revisionBefore);

    // opa alone, after the edits and outside every window above, under the same load.
    const bare: number[] = [];
    const load = setInterval(() => void client.check(chatRequest()).catch(() => undefined), 10);
    try {
      for (let i = 0; i < BARE_OPA_RUNS; i++) bare.push(await bareOpa());
    } finally {
      clearInterval(load);
    }

    const editToActive = attempts.flatMap((a) => a.editToActive);
    const figures = {
      bareOpaMs: { p50: Math.round(p(bare, 0.5)), max: Math.round(Math.max(...bare)) },
      editToActiveMs: { p50: Math.round(p(editToActive, 0.5)), p95: Math.round(p(editToActive, 0.95)), max: Math.round(Math.max(...editToActive)) },
      attempts: attempts.map((a) => ({
        edits: a.editToActive.length,
        checks: { withoutReload: a.withoutReload.length, duringReload: a.duringReload.length },
        p99Ms: { withoutReload: +p(a.withoutReload, 0.99).toFixed(1), duringReload: +p(a.duringReload, 0.99).toFixed(1) },
        ratio: +(p(a.duringReload, 0.99) / p(a.withoutReload, 0.99)).toFixed(2),
        maxMs: { withoutReload: +Math.max(...a.withoutReload).toFixed(1), duringReload: +Math.max(...a.duringReload).toFixed(1) },
      })),
    };
    console.info(`policy reload under 100 Checks/s: ${JSON.stringify(figures)}`);

    for (const a of attempts) {
      // A p99 needs a few hundred samples on each side to mean anything: at 100/s, 20 edits give
      // about 800 quiet (600 when the client's timer lags) and 400 or more during reloads (edit to active takes 200 ms at least).
      expect(a.withoutReload.length).toBeGreaterThan(a.editToActive.length * 30);
      expect(a.duringReload.length).toBeGreaterThan(a.editToActive.length * 20);
    }
    // Under 1 s, unless opa alone (measured beside) is slow on this machine: then within its worst
    // time by half again plus 300 ms.
    expect(p(editToActive, 0.95)).toBeLessThan(Math.max(EDIT_TO_ACTIVE_P95_MS, 1.5 * Math.max(...bare) + OPA_SHARE_MS - 200));
    // The p99 of ~500 samples is their 5th worst: one stall of the whole machine (other work on
    // the 2 cores) landing in either kind of stretch decides it. So up to three attempts, each
    // compared within itself; the promise holds when one attempt shows it. Reloads that block
    // the Check thread fail every attempt (before the fix: 2.5-6.2x in each of 6 runs).
    expect(attempts.some(held), JSON.stringify(figures.attempts)).toBe(true);
  }, 300_000);

  it("tollgate rejected no edit and logged no error", () => {
    expect(processes.exited()).toEqual([]);
    expect(processes.warnings().filter((w) => Number(w["level"] ?? 60) >= 50)).toEqual([]);
  });
});
