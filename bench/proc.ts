import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { TollgateError } from "../src/errors.js";

let clockTicks: number | undefined;

/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const n = Number(out.stdout.trim());
    clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** User + system CPU seconds a process has used so far (all its threads). */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

/** readCpuSeconds of a process and all its descendants (a `--workers` primary and its workers). */
export function readTreeCpuSeconds(pid: number): number {
  let total = readCpuSeconds(pid);
  for (const child of childPids(pid)) total += readTreeCpuSeconds(child);
  return total;
}

function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter((s) => s !== "").map(Number),
    );
  } catch {
    return [];
  }
}

/** Busy CPU seconds of the whole machine, all cores (everything in /proc/stat's cpu line but idle and iowait). */
export function readMachineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return (total - (v[3] ?? 0) - (v[4] ?? 0)) / ticksPerSecond();
}

/** Resident set size in bytes. */
export function readRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m?.[1]) throw new TollgateError("internal_error", `no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it resolves truthy, or throws after timeoutMs with the last error. */
export async function waitFor<T>(opts: { what: string; timeoutMs: number; fn: () => Promise<T | undefined> }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await opts.fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  const why = last === undefined ? "" : `: ${TollgateError.from(last).message}`;
  throw new TollgateError("internal_error", `timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
}

/** Servers started here; killed if the bench exits without stopping them (a crash, Ctrl-C). */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export interface Running {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a server pinned to one CPU with taskset (which execs the command, so the pid is the
 * server's own). stdout and stderr go to logFile. An early exit rejects `exited`.
 */
export function startPinned(opts: { name: string; cpu: number | string | undefined; cmd: string; args: string[]; env?: NodeJS.ProcessEnv; cwd?: string; logFile: string }): Running {
  const [cmd, args] = opts.cpu === undefined ? [opts.cmd, opts.args] : ["taskset", ["-c", String(opts.cpu), opts.cmd, ...opts.args]];
  const log = createWriteStream(opts.logFile);
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  if (child.pid === undefined) throw new TollgateError("internal_error", `could not start ${opts.name} (${opts.cmd})`);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => (running.delete(child), resolve())));
  return {
    name: opts.name,
    pid: child.pid,
    child,
    logFile: opts.logFile,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Throws with the log's tail when the process has already exited. */
export function assertAlive(r: Running): void {
  if (r.child.exitCode === null && r.child.signalCode === null) return;
  let tail = "";
  try {
    tail = readFileSync(r.logFile, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    // no log yet
  }
  throw new TollgateError("internal_error", `${r.name} exited (code ${r.child.exitCode ?? r.child.signalCode}); log ${r.logFile}:\n${tail}`);
}
