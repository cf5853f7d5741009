import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

export const BIN = path.resolve("bin/tollgate.mjs");

/** The CLI runs from dist/; `npm test` builds first. Running one file alone needs `npm run build`. */
export function assertBuilt(): void {
  if (!existsSync(path.resolve("dist/cli/index.js"))) throw new Error("dist/ is missing: run `npm run build` (npm test does it)");
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  assertBuilt();
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Served {
  proc: ChildProcess;
  port: number;
  output: string[];
  exited: Promise<number | null>;
}

/** Starts `tollgate serve` as a real process and resolves once it logs that it listens. */
export function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  assertBuilt();
  const proc = spawn(process.execPath, [BIN, "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output.join("")}`)), 30_000);
    let buffered = "";
    proc.stdout!.on("data", (chunk: Buffer) => {
      output.push(chunk.toString());
      buffered += chunk.toString();
      const m = /"grpc_port":(\d+)/.exec(buffered);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]), output, exited });
      }
    });
    proc.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output.join("")}`));
    });
  });
}

/** Like runCli, without blocking this process's event loop (for servers running in the test process). */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
