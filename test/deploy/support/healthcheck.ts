import { spawn } from "node:child_process";
import { TollgateError } from "../../../src/errors.js";
import { REPO_ROOT } from "./repo.js";

export interface HealthcheckRun {
  code: number | null;
  stderr: string;
}

/** Runs a Compose healthcheck test array - ["CMD", argv...] or ["CMD-SHELL", script] - from the repo root. */
export function runHealthcheck(test: readonly string[], env: Record<string, string> = {}): Promise<HealthcheckRun> {
  const [kind, ...rest] = test;
  if (kind !== "CMD" && kind !== "CMD-SHELL") throw new TollgateError("internal_error", `unexpected healthcheck kind ${String(kind)}`);
  const [file, args] = kind === "CMD-SHELL" ? ["/bin/sh", [rest[0]!]] : [rest[0]!, rest.slice(1)];
  const argv = kind === "CMD-SHELL" ? ["-c", ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
