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
    // (field 19 of /proc/<pid>/task/<tid>/stat) now and once the grace period has passed.
    const script = `
      const fs = require("node:fs");
      const nice = () => fs.readdirSync("/proc/self/task").map((t) => Number(fs.readFileSync("/proc/self/task/" + t + "/stat", "utf8").split(") ")[1].split(" ")[16]));
      const early = nice();
      setTimeout(() => console.log(JSON.stringify({ early, late: nice() })), ${BACKGROUND_GRACE_MS} + 400);
    `;
    const out = await runOpa(["-e", script], { opaBin: process.execPath, background: true });
    const { early, late } = JSON.parse(out.stdout) as { early: number[]; late: number[] };
    const own = os.getPriority();
    expect(early.length).toBeGreaterThan(1);
    expect(early.every((n) => n === Math.min(19, own + BACKGROUND_NICENESS))).toBe(true);
    // Raising a priority back needs CAP_SYS_NICE (root here); without it the run stays lowered.
    if (process.getuid?.() === 0) expect(late.every((n) => n === own)).toBe(true);
  });
});
