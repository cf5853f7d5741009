import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TollgateError } from "../errors.js";
import { InlineChild } from "./inline-child.js";

export const OPA_VERSION = "v1.22.3";

/** Finds the opa CLI: $OPA_BIN, then PATH, then Go's bin directories (where `go install` puts it). */
export function findOpa(env: NodeJS.ProcessEnv = process.env): string {
  if (env["OPA_BIN"]) return env["OPA_BIN"];
  const dirs = (env["PATH"] ?? "").split(path.delimiter).filter(Boolean);
  const gopath = env["GOPATH"] ?? path.join(os.homedir(), "go");
  if (env["GOBIN"]) dirs.push(env["GOBIN"]);
  dirs.push(path.join(gopath, "bin"));
  for (const dir of dirs) {
    const candidate = path.join(dir, "opa");
    if (existsSync(candidate)) return candidate;
  }
  throw new TollgateError(
    "policy_build_error",
    `opa CLI not found; install it with: go install github.com/open-policy-agent/opa@${OPA_VERSION} (or set OPA_BIN)`,
  );
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Spawning forks the spawning process (see InlineChild): opa is spawned from a small process of its
 * own, so a serving process never forks while it answers Checks. The source is inline so it runs
 * the same from src/ (tests) and dist/.
 */
const SPAWNER_SOURCE = `
const { execFile } = require("node:child_process");
const { existsSync, readdirSync, readFileSync } = require("node:fs");
const os = require("node:os");
const running = new Set();
process.on("disconnect", () => {
  for (const child of running) child.kill("SIGKILL");
  process.exit(0);
});
const find = (name) => ["/usr/bin/" + name, "/bin/" + name].find((f) => existsSync(f));
const nice = find("nice");
// SCHED_IDLE only where it can be undone: a thread leaves it only with CAP_SYS_NICE (bit 23).
const capSysNice = (() => {
  try {
    const m = /CapEff:\\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && ((BigInt("0x" + m[1]) >> 23n) & 1n) === 1n;
  } catch {
    return false;
  }
})();
const chrt = capSysNice ? find("chrt") : undefined;
process.on("message", (m) => {
  let raise;
  const env = m.niceness ? { ...process.env, GOMAXPROCS: "1" } : process.env;
  const own = os.getPriority();
  const lowered = Math.min(19, own + m.niceness);
  // Started through chrt or nice(1), every thread opa starts inherits the lowered priority; set
  // after the spawn, it would reach opa's first thread only (Linux priorities are per thread).
  const [file, args] = !m.niceness ? [m.bin, m.args]
    : chrt ? [chrt, ["--idle", "0", m.bin, ...m.args]]
    : nice ? [nice, ["-n", String(lowered - own), m.bin, ...m.args]]
    : [m.bin, m.args];
  const child = execFile(file, args, { cwd: m.cwd, env, timeout: m.timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
    clearTimeout(raise);
    running.delete(child);
    process.send({ id: m.id, failed: err ? err.message : undefined, stdout, stderr });
  });
  running.add(child);
  if (m.niceness && child.pid !== undefined) {
    const pid = child.pid;
    const threads = () => { try { return readdirSync("/proc/" + pid + "/task").map(Number); } catch { return [pid]; } };
    const set = (p) => { for (const tid of threads()) { try { os.setPriority(tid, p); } catch {} } };
    if (!chrt && !nice) set(lowered);
    raise = setTimeout(() => {
      if (chrt) execFile(chrt, ["--all-tasks", "--other", "-p", "0", String(pid)], () => {});
      else set(own);
    }, m.graceMs);
  }
});
`;

interface SpawnReply {
  id: number;
  failed: string | undefined;
  stdout: string;
  stderr: string;
}

const spawner = new InlineChild<SpawnReply>(SPAWNER_SOURCE, "opa spawner");

/** Starts the process opa is spawned from: a server calls this at boot, while it is small. */
export function startOpaSpawner(): void {
  spawner.start();
}

/**
 * How much lower than tollgate's own the CPU priority of a background opa run is, where it cannot
 * run as SCHED_IDLE. opa build and opa test keep both cores of a small machine busy (the Check p99
 * while they ran was as high as during a reload, with no reload at all): at equal priority the
 * Check thread waits for them.
 *
 * With CAP_SYS_NICE (root outside a container, or the capability granted) a background run is
 * SCHED_IDLE instead: it gets a core only when nothing else wants it, and a waking Check thread
 * takes the core from it at once. That lowered opa's effect on Check p99 by about a quarter
 * against five steps of niceness (docs/operations.md, "Policy reloads"). Without the capability a
 * thread could never leave SCHED_IDLE, and on a saturated machine the run would starve; so there it
 * runs five steps lower (a third of the weight under Linux's scheduler). Either applies to every
 * thread opa starts, and a background run uses one core at most (GOMAXPROCS=1; build and test run
 * side by side, one core each).
 */
export const BACKGROUND_NICENESS = 5;
/**
 * A background run still going after this long gets tollgate's own priority back (SCHED_OTHER, or
 * its niceness): on a machine saturated by other work a lowered priority starves it (at 19, builds
 * took over 10 s), and an edit must go live in about a second. Raising a priority needs root or
 * CAP_SYS_NICE (Linux); without, the run stays five steps lower to the end.
 */
export const BACKGROUND_GRACE_MS = 700;

/**
 * Runs opa with a timeout; a non-zero exit rejects with OPA's own message. `background` lowers its
 * CPU priority by BACKGROUND_NICENESS and its threads to one: for builds a serving process runs
 * beside its traffic.
 */
export function runOpa(args: string[], options: { cwd?: string; timeoutMs?: number; opaBin?: string; background?: boolean } = {}): Promise<RunResult> {
  const bin = options.opaBin ?? findOpa();
  return spawner.request({ bin, args, cwd: options.cwd, timeoutMs: options.timeoutMs ?? 120_000, niceness: options.background ? BACKGROUND_NICENESS : 0, graceMs: BACKGROUND_GRACE_MS }).then((reply) => {
    const { failed } = reply;
    const out = "stdout" in reply ? reply : { stdout: "", stderr: "" };
    if (failed !== undefined) {
      const message = (out.stderr || out.stdout || failed).split("\nUsage:")[0]!.trim();
      throw new TollgateError("policy_build_error", `opa ${args[0]}: ${message}`);
    }
    return { stdout: out.stdout, stderr: out.stderr };
  });
}
