import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TollgateError } from "../errors.js";

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

/** Runs opa with a timeout; a non-zero exit rejects with OPA's own message. */
export function runOpa(args: string[], options: { cwd?: string; timeoutMs?: number; opaBin?: string } = {}): Promise<RunResult> {
  const bin = options.opaBin ?? findOpa();
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err) {
          const message = (stderr || stdout || err.message).split("\nUsage:")[0]!.trim();
          reject(new TollgateError("policy_build_error", `opa ${args[0]}: ${message}`, { cause: err }));
        } else resolve({ stdout, stderr });
      },
    );
  });
}
