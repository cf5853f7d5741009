import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runOpa, startOpaSpawner } from "../../src/policy/opa-cli.js";
import { capabilitiesFile } from "../../src/paths.js";
import { call } from "../admin/http-client.js";
import { Clients, Processes, sleep } from "../e2e/support.js";

/**
 * The shipped LLM gateway policy (policies/, with its opa tests) served by a real tollgate process
 * under 100 Checks/s, edited 20 times per attempt: each edit must be active in under 1 s at the 95th
 * percentile. Before: edits went live in 831-2,037 ms under load, and Check p99 rose to 226 ms
 * during reloads, then 89 vs 17.6 ms once opa ran from a worker thread.
 *
 * Issue 12 promises Check p99 during a reload at most twice its p99 without one (ratioToQuiet).
 * It was far off while the serving process spawned opa: Node spawns by fork(), which copies a few
 * hundred MB of page tables and stalled Checks 40-120 ms at each run (5.8-6.9 on an idle machine).
 * Then, with opa spawned from a small process of its own (src/policy/inline-child.ts) and one V8
 * helper thread per spare core (src/cli/v8-pool.ts), 1.2-2.5 on an idle machine and up to 4.5 in
 * clean-clone CI runs: opa's two processes took the cores from the Check thread, and the turns
 * before the swap held it 3-15 ms (the guard's patterns compiled again, the policy's functions
 * compiled by the first evaluation). With opa as SCHED_IDLE, the patterns kept across revisions and
 * the loader thread warming the whole path (docs/operations.md, "Policy reloads"): 0.82-1.63 in four
 * idle runs, 2.49 then 1.27 in a clean-clone CI run. Asserted over the Checks of every attempt
 * made (below). Also printed: the ratio to Check p99 while opa alone builds and tests the same
 * folder, with no reload (ratioToOpaAlone), which is what tollgate adds to opa's own CPU use.
 *
 * Each edit changes the compiled policy (a string in a rule every decision runs), as a real edit
 * does: a comment or an unused rule leaves the WebAssembly byte for byte the same, and V8 then
 * reuses the code it compiled for the previous revision, so the reload would skip the compilation
 * a real edit costs.
 *
 * Quiet stretches, reloads and opa-alone stretches alternate, so a machine busy with other work
 * raises all alike.
 *
 * Activation is read from tollgate's own log line, not by polling /v1/status, whose masking
 * self-test would load the server only during reloads and skew the comparison. opa itself (build
 * and test of the folder, as tollgate runs them) is run after every edit, outside the windows
 * compared: when the machine is so busy that edits take a second, tollgate's own share (the edit's
 * time less that opa run) must still be under 500 ms.
 */

/** Up to 20 edits per attempt; on a slow machine fewer, but never under 8, once EDITING_BUDGET_MS has passed. */
const EDITS = 20;
const MIN_EDITS = 8;
const EDITING_BUDGET_MS = 30_000;
const ATTEMPTS = 3;
const EDIT_TO_ACTIVE_P95_MS = 1000;
/**
 * tollgate's own share of an edit's path (watcher settle 50-70 ms, debounce 50 ms, reading the
 * bundle, compiling and loading the WASM, the swap), held when opa alone is slow on a busy machine.
 */
const OPA_SHARE_MS = 500;
/** Check p99 during a reload at most twice its p99 without one. */
const RELOAD_P99_RATIO = 2;
const processes = new Processes();
let dir: string;
let client: Clients;
let adminUrl: string;
/** performance.now() of each policy_activated line tollgate logged. */
const activations: number[] = [];

beforeAll(async () => {
  // This process spawns the opa-alone runs: its spawner is forked now, not in the first opa-alone
  // window (a fork of the test process stalls its client for tens of ms, as it did the server).
  startOpaSpawner();
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

/** A copy of the folder for bareOpa, made outside the window it is measured in (the copy is synchronous file work in this, the client's, process). */
function copyOfFolder(): string {
  const copy = mkdtempSync(path.join(os.tmpdir(), "tollgate-bare-"));
  cpSync(dir, copy, { recursive: true });
  return copy;
}

function removeCopy(copy: string): void {
  rmSync(copy, { recursive: true, force: true });
  rmSync(`${copy}.tar.gz`, { force: true });
}

/** opa build ∥ opa test of a copy of the folder, as tollgate runs them (same priority): the part tollgate does not control. */
async function bareOpa(copy: string): Promise<number> {
  const started = performance.now();
  await Promise.all([
    runOpa(["build", "-t", "wasm", "-e", "envoy/authz/allow", "--capabilities", capabilitiesFile, "--ignore", "*_test.rego", "-o", `${copy}.tar.gz`, copy], { background: true }),
    runOpa(["test", copy], { background: true }),
  ]);
  return performance.now() - started;
}

function p(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * q) - 1)] ?? Number.NaN;
}

interface Attempt {
  editToActive: number[];
  /** Per edit: its edit-to-active time minus the bare opa run right after it. */
  ownShare: number[];
  bare: number[];
  withoutReload: number[];
  duringReload: number[];
  /** Checks started while opa alone ran (no reload). */
  opaAlone: number[];
  /** 1-minute load average at the start and end of the attempt. */
  load: [number, number];
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
  const opaRuns: { from: number; to: number }[] = [];
  const editToActive: number[] = [];
  const ownShare: number[] = [];
  const bare: number[] = [];
  const loadBefore = os.loadavg()[0]!;
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
      editPolicy();
      while (activations.length === seen) {
        if (performance.now() - editedAt > 60_000) throw new Error(`edit ${i} not active after 60 s`);
        await sleep(5);
      }
      const activeAt = activations[seen]!;
      editToActive.push(activeAt - editedAt);
      // The swap's tail: Checks already queued when the new revision went live.
      reloads.push({ from: editedAt, to: activeAt + 50 });
      // opa alone on a copy of the folder right after, with no reload.
      const copy = copyOfFolder();
      await sleep(Math.max(0, activeAt + 60 - performance.now()));
      const opaFrom = performance.now();
      try {
        bare.push(await bareOpa(copy));
        opaRuns.push({ from: opaFrom, to: performance.now() + 50 });
        await sleep(50);
      } finally {
        removeCopy(copy);
      }
      ownShare.push(activeAt - editedAt - bare.at(-1)!);
    }
  } finally {
    clearInterval(timer);
    await Promise.all(pending);
  }
  expect(checks.every((c) => Number.isFinite(c.ms))).toBe(true);
  const within = (ranges: { from: number; to: number }[]) => checks.filter((c) => ranges.some((r) => c.startedAt >= r.from && c.startedAt <= r.to)).map((c) => c.ms);
  return { editToActive, ownShare, bare, withoutReload: within(quiet), duringReload: within(reloads), opaAlone: within(opaRuns), load: [+loadBefore.toFixed(1), +os.loadavg()[0]!.toFixed(1)] };
}

let editCount = 0;

/** Changes a string constant in a rule every decision evaluates: a new WebAssembly module, the same decisions. */
function editPolicy(): void {
  const file = path.join(dir, "tollgate", "limits.rego");
  const before = readFileSync(file, "utf8");
  const after = before.replace(/^tenant := identity\.tenant.*$/m, `tenant := identity.tenant if "edit-${editCount++}" != ""`);
  if (after === before) throw new Error(`no "tenant := identity.tenant" rule to edit in ${file}`);
  writeFileSync(file, after);
}

describe("chaos: policy edits under load", () => {
  it(`edits under 100 Checks/s: active in < 1 s (p95); Check p99 during reloads within ${RELOAD_P99_RATIO}x its p99 without one`, async () => {
    const revisionBefore = await activeRevision();
    const attempts: Attempt[] = [];
    // Over every attempt so far: more reloads, a steadier p99 on both sides.
    const pooled = (kind: "withoutReload" | "duringReload") => attempts.flatMap((a) => a[kind]);
    const ratioToQuiet = () => p(pooled("duringReload"), 0.99) / p(pooled("withoutReload"), 0.99);
    do attempts.push(await editUnderLoad(EDITS, EDITING_BUDGET_MS));
    while (attempts.length < ATTEMPTS && ratioToQuiet() > RELOAD_P99_RATIO);
    expect(await activeRevision()).not.toBe(revisionBefore);

    const editToActive = attempts.flatMap((a) => a.editToActive);
    const ownShare = attempts.flatMap((a) => a.ownShare);
    const bare = attempts.flatMap((a) => a.bare);
    const figures = {
      bareOpaMs: { p50: Math.round(p(bare, 0.5)), max: Math.round(Math.max(...bare)) },
      editToActiveMs: { p50: Math.round(p(editToActive, 0.5)), p95: Math.round(p(editToActive, 0.95)), max: Math.round(Math.max(...editToActive)) },
      ownShareMs: { p50: Math.round(p(ownShare, 0.5)), p95: Math.round(p(ownShare, 0.95)) },
      ratioToQuiet: +ratioToQuiet().toFixed(2),
      attempts: attempts.map((a) => ({
        edits: a.editToActive.length,
        loadAverage: a.load,
        checks: { withoutReload: a.withoutReload.length, duringReload: a.duringReload.length, opaAlone: a.opaAlone.length },
        p99Ms: { withoutReload: +p(a.withoutReload, 0.99).toFixed(1), duringReload: +p(a.duringReload, 0.99).toFixed(1), opaAlone: +p(a.opaAlone, 0.99).toFixed(1) },
        ratioToQuiet: +(p(a.duringReload, 0.99) / p(a.withoutReload, 0.99)).toFixed(2),
        ratioToOpaAlone: +(p(a.duringReload, 0.99) / p(a.opaAlone, 0.99)).toFixed(2),
        p50Ms: { withoutReload: +p(a.withoutReload, 0.5).toFixed(1), duringReload: +p(a.duringReload, 0.5).toFixed(1), opaAlone: +p(a.opaAlone, 0.5).toFixed(1) },
      })),
    };
    console.info(`policy reload under 100 Checks/s: ${JSON.stringify(figures)}`);

    for (const a of attempts) {
      // A p99 needs a few hundred samples on each side to mean anything: at 100/s, 20 edits give
      // about 800 quiet (600 when the client's timer lags) and 400 or more during reloads (edit to active takes 200 ms at least).
      expect(a.withoutReload.length).toBeGreaterThan(a.editToActive.length * 30);
      expect(a.duringReload.length).toBeGreaterThan(a.editToActive.length * 20);
      expect(a.opaAlone.length).toBeGreaterThan(a.editToActive.length * 10);
    }
    // Under 1 s; or, when opa alone is that slow on this machine, tollgate's own share (the edit's
    // time less the bare opa run right after it) under OPA_SHARE_MS.
    if (p(editToActive, 0.95) >= EDIT_TO_ACTIVE_P95_MS) expect(p(ownShare, 0.95)).toBeLessThan(OPA_SHARE_MS);
    // The p99 of a few hundred samples is their few worst: one stall of the whole machine (other
    // work on the 2 cores) landing in either kind of stretch can decide it. So while it is over,
    // another attempt adds its samples to both sides, up to three. A reload that holds the event
    // loop (a 50 ms busy-wait in activation) fails it.
    expect(ratioToQuiet(), JSON.stringify(figures)).toBeLessThanOrEqual(RELOAD_P99_RATIO);
  }, 300_000);

  it("tollgate rejected no edit and logged no error", () => {
    expect(processes.exited()).toEqual([]);
    expect(processes.warnings().filter((w) => Number(w["level"] ?? 60) >= 50)).toEqual([]);
  });
});
