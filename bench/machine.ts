import { spawnSync } from "node:child_process";
import os from "node:os";

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? (r.stdout.split("\n")[0] ?? "").trim() : "unknown";
}

/** What the numbers were measured on, for the report. */
export function describeMachine(): Record<string, string> {
  const cpus = os.cpus();
  return {
    cpu: `${cpus[0]?.model.trim() ?? "unknown"} × ${cpus.length} (os.availableParallelism ${os.availableParallelism()})`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    go: firstLine("go", ["version"]),
    redis: firstLine("redis-server", ["--version"]),
  };
}

export function gitCommit(): string {
  const r = spawnSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" });
  const hash = r.status === 0 ? r.stdout.trim() : "unknown";
  return dirty.status === 0 && dirty.stdout.trim() !== "" ? `${hash} (with uncommitted changes)` : hash;
}
