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
const { existsSync, readdirSync } = require("node:fs");
const os = require("node:os");
const running = new Set();
process.on("disconnect", () => {
  for (const child of running) child.kill("SIGKILL");
  process.exit(0);
});
const nice = ["/usr/bin/nice", "/bin/nice"].find((f) => existsSync(f));
process.on("message", (m) => {
  let raise;
  const env = m.niceness ? { ...process.env, GOMAXPROCS: "1" } : process.env;
  const own = os.getPriority();
  const lowered = Math.min(19, own + m.niceness);
  // Through nice(1) every thread opa starts inherits the lowered priority; set after the spawn, it
  // reaches opa's first thread only (Linux priorities are per thread).
  const [file, args] = m.niceness && nice ? [nice, ["-n", String(lowered - own), m.bin, ...m.args]] : [m.bin, m.args];
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
    if (!nice) set(lowered);
    raise = setTimeout(() => set(own), m.graceMs);
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
 * How much lower than tollgate's own the CPU priority of a background opa run is. opa build and
 * opa test keep both cores of a small machine busy (the Check p99 while they ran was as high as
 * during a reload, with no reload at all): at equal priority the Check thread waits for them.
 * Five steps (a third of the weight under Linux's scheduler) let it run first, on every thread opa
 * starts, and a background run uses one core at most (GOMAXPROCS=1; build and test run side by
 * side, one core each).
 */
export const BACKGROUND_NICENESS = 5;
/**
 * A background run still going after this long gets tollgate's own priority back: on a machine
 * saturated by other work a lowered priority starves it (at 19, builds took over 10 s), and an
 * edit must go live in about a second. Raising a priority needs root or CAP_SYS_NICE (Linux);
 * without, the run stays five steps lower to the end.
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
