import { availableParallelism } from "node:os";

/**
 * V8's helper threads (parallel scavenges, concurrent marking, background compilation) number 4 by
 * default, whatever the machine. On 2 cores they outnumber it: after each policy activation they
 * took 15-20 ms of CPU in the next 65 ms beside the event loop, and Checks answered then had a p90
 * of 8-17 ms against 7-8 ms with one helper (docs/operations.md, "Policy reloads"). So a
 * serving process keeps one core for its event loop: cores - 1 helpers, at least 1, at most Node's 4.
 */
export function v8PoolSize(cores: number): number {
  return Math.max(1, Math.min(4, cores - 1));
}

/** Whether the operator chose a pool size already (on the command line or in NODE_OPTIONS): that choice stands. */
export function poolSizeChosen(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((a) => a.startsWith("--v8-pool-size"));
}

/**
 * For `serve`: replaces this process (same pid, same stdio; execve) with the same command run with
 * --v8-pool-size, before anything is loaded. A no-op when the size was chosen or the Node.js has no
 * process.execve (added in 22.15 and 23.11).
 */
export function relaunchWithPoolSize(): void {
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (typeof execve !== "function" || poolSizeChosen(process.execArgv, process.env["NODE_OPTIONS"])) return;
  execve.call(process, process.execPath, [process.execPath, `--v8-pool-size=${v8PoolSize(availableParallelism())}`, ...process.execArgv, ...process.argv.slice(1)], process.env);
}
