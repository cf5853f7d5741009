import { readFileSync } from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { InlineChild } from "../../src/policy/inline-child.js";
import { BACKGROUND_GRACE_MS, BACKGROUND_NICENESS, runOpa } from "../../src/policy/opa-cli.js";

// A process that doubles n, or exits when asked: the shape of the opa spawner.
const SOURCE = `
process.on("message", (m) => {
  if (m.exit) process.exit(3);
  process.send({ id: m.id, doubled: m.n * 2, pid: process.pid });
});
`;

type Doubled = { id: number; doubled: number; pid: number };

describe("InlineChild", () => {
  it("answers each request with its own reply, in any number at once, from one process that is not this one", async () => {
    const c = new InlineChild<Doubled>(SOURCE, "doubler");
    const replies = await Promise.all([1, 2, 3].map((n) => c.request({ n })));
    expect(replies.map((r) => ("doubled" in r ? r.doubled : r.failed))).toEqual([2, 4, 6]);
    const pids = new Set(replies.map((r) => ("pid" in r ? r.pid : 0)));
    expect(pids.size).toBe(1);
    expect(pids.has(process.pid)).toBe(false);
  });

  it("a process that dies answers what waited with a failure naming it, and the next request starts a new one", async () => {
    const c = new InlineChild<Doubled>(SOURCE, "doubler");
    expect(await c.request({ exit: true })).toMatchObject({ failed: "doubler process exited" });
    expect(await c.request({ n: 21 })).toMatchObject({ doubled: 42 });
  });

  it("does not keep this process alive while nothing waits (the test runner would hang if it did)", async () => {
    const c = new InlineChild<Doubled>(SOURCE, "doubler");
    c.start();
    expect(await c.request({ n: 1 })).toMatchObject({ doubled: 2 });
  });
});

describe("runOpa", () => {
  // The reason for the spawner: a spawn forks its caller, and forking a serving process stalls it.
  it("spawns from the spawner process, never from the serving process, and reuses it", async () => {
    const a = await runOpa(["-c", "echo $PPID"], { opaBin: "/bin/sh" });
    const b = await runOpa(["-c", "echo $PPID"], { opaBin: "/bin/sh" });
    const ppidA = Number(a.stdout.trim());
    expect(ppidA).toBeGreaterThan(1);
    expect(ppidA).not.toBe(process.pid);
    expect(Number(b.stdout.trim())).toBe(ppidA);
  });

  // Linux priorities are per thread: lowered after the spawn, Go's other threads kept the server's.
  it.runIf(process.platform === "linux")("runs a background command with every thread's priority lowered, and raises them all after the grace period", async () => {
    // A multi-threaded program (Node: V8's and libuv's threads) reporting each thread's niceness
    // and scheduling policy (fields 19 and 41 of /proc/<pid>/task/<tid>/stat) now and once the
    // grace period has passed.
    const script = `
      const fs = require("node:fs");
      const threads = () => fs.readdirSync("/proc/self/task").map((t) => {
        const f = fs.readFileSync("/proc/self/task/" + t + "/stat", "utf8").split(") ")[1].split(" ");
        return { nice: Number(f[16]), policy: Number(f[38]) };
      });
      const early = threads();
      setTimeout(() => console.log(JSON.stringify({ early, late: threads() })), ${BACKGROUND_GRACE_MS} + 400);
    `;
    const out = await runOpa(["-e", script], { opaBin: process.execPath, background: true });
    const { early, late } = JSON.parse(out.stdout) as Record<"early" | "late", { nice: number; policy: number }[]>;
    const own = os.getPriority();
    expect(early.length).toBeGreaterThan(1);
    if (hasCapSysNice()) {
      // SCHED_IDLE (5) from the start, every thread; back to SCHED_OTHER (0) after the grace period.
      expect(early.map((t) => t.policy)).toEqual(early.map(() => SCHED_IDLE));
      expect(late.map((t) => [t.policy, t.nice])).toEqual(late.map(() => [SCHED_OTHER, own]));
    } else {
      // A thread cannot leave SCHED_IDLE without CAP_SYS_NICE, nor be raised: five steps lower throughout.
      expect(early.map((t) => [t.policy, t.nice])).toEqual(early.map(() => [SCHED_OTHER, Math.min(19, own + BACKGROUND_NICENESS)]));
    }
  });

  it("runs a command not marked background at this process's own priority", async () => {
    const out = await runOpa(["-c", "cut -d' ' -f19,41 /proc/self/stat"], { opaBin: "/bin/sh" });
    expect(out.stdout.trim()).toBe(`${os.getPriority()} ${SCHED_OTHER}`);
  });
});

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

function hasCapSysNice(): boolean {
  const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"));
  return m !== null && ((BigInt(`0x${m[1]}`) >> 23n) & 1n) === 1n;
}
