import { execFileSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { poolSizeChosen, v8PoolSize } from "../../src/cli/v8-pool.js";

describe("V8 pool size of a serving process", () => {
  it("leaves one core to the event loop: cores - 1 helpers, at least 1, at most Node's default 4", () => {
    expect([1, 2, 3, 4, 5, 8, 64].map(v8PoolSize)).toEqual([1, 1, 2, 3, 4, 4, 4]);
  });

  it("an operator's own --v8-pool-size, on the command line or in NODE_OPTIONS, stands", () => {
    expect(poolSizeChosen(["--v8-pool-size=8"], undefined)).toBe(true);
    expect(poolSizeChosen([], "--max-old-space-size=512 --v8-pool-size=2")).toBe(true);
    expect(poolSizeChosen(["--enable-source-maps"], "--max-old-space-size=512")).toBe(false);
  });

  // What bin/tollgate.mjs runs before `serve`, run for real in a probe process (so that nothing
  // listens): the process is replaced in place by one with the flag. process.execve is Node 22.15+.
  const hasExecve = typeof (process as { execve?: unknown }).execve === "function";
  it.skipIf(!hasExecve)("relaunchWithPoolSize re-executes the process with the flag, keeping its pid and arguments", () => {
    const probe = `
      import { relaunchWithPoolSize } from ${JSON.stringify(path.resolve("dist/cli/v8-pool.js"))};
      process.env.PROBE_PID ??= String(process.pid);
      relaunchWithPoolSize();
      console.log(JSON.stringify({ pid: process.pid, first: Number(process.env.PROBE_PID), execArgv: process.execArgv, argv: process.argv.slice(1) }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", probe, "serve", "--x"], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } }));
    expect(out.pid).toBe(out.first);
    expect(out.execArgv.filter((a: string) => a.startsWith("--v8-pool-size"))).toHaveLength(1);
    expect(out.argv).toEqual(["serve", "--x"]);
  });
});
