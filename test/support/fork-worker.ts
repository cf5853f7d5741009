import { fork, type ChildProcess } from "node:child_process";

/**
 * A test worker in its own OS process (run through tsx). The protocol: the worker sends "ready"
 * once connected, waits for "go", then sends one result message.
 */
export interface ForkedWorker<T> {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<T>;
}

export function forkWorker<T>(script: string, args: string[]): ForkedWorker<T> {
  const child = fork(script, args, { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const result = new Promise<T>((resolve, reject) => {
    child.on("message", (message: unknown) => {
      if (message === "ready") onReady();
      else resolve(message as T);
    });
    child.once("exit", (code) => reject(new Error(`worker exited with ${String(code)} before answering`)));
    child.once("error", reject);
  });
  result.catch(() => undefined);
  return { child, ready, result };
}
