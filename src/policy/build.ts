import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT, type BuiltPolicy } from "../bundle/built-policy.js";
import { loadBundle } from "../bundle/load.js";
import { readBundleArchiveAsync } from "../bundle/read.js";
import { capabilitiesFile } from "../paths.js";
import { runOpa } from "./opa-cli.js";
import { scanPolicyDir } from "./scan-dir.js";

export interface BuildOptions {
  dir: string;
  entrypoint: string;
  runTests: boolean;
  opaBin?: string;
  /** Run opa at a lowered CPU priority: a server building beside its traffic. */
  background?: boolean;
}

/**
 * Compiles a policies folder with `opa build -t wasm`, restricted to tollgate's capabilities so
 * a policy using a built-in that tollgate cannot run fails here with OPA's own message, then runs
 * `opa test` when the folder has tests. The bundle opa writes is read back by the same reader a
 * served bundle goes through, so a folder and a bundle become the same BuiltPolicy (log mask and
 * drop rules included). Nothing is activated by this function.
 */
export async function buildPolicies(options: BuildOptions): Promise<BuiltPolicy> {
  const dir = path.resolve(options.dir);
  const scan = await scanPolicyDir(dir);
  const work = await mkdtemp(path.join(os.tmpdir(), "tollgate-build-"));
  const run = { opaBin: options.opaBin, background: options.background ?? false };
  try {
    const out = path.join(work, "bundle.tar.gz");
    const entrypoints = [options.entrypoint, ...(scan.definesLogMask ? [LOG_MASK_ENTRYPOINT] : []), ...(scan.definesLogDrop ? [LOG_DROP_ENTRYPOINT] : [])];
    const testsRun = options.runTests && scan.hasTests;
    // Build and test at once: both are child processes, and the edit goes live after the slower one.
    const [, tested] = await Promise.all([
      runOpa(
        [
          "build", "-t", "wasm",
          ...entrypoints.flatMap((e) => ["-e", e]),
          "--capabilities", capabilitiesFile,
          "--ignore", "*_test.rego",
          "--revision", scan.revision,
          "-o", out,
          dir,
        ],
        run,
      ),
      testsRun ? runOpa(["test", dir], run) : undefined,
    ]);
    // Read and gunzipped off the event loop; the tar itself is parsed here.
    const built = loadBundle(await readBundleArchiveAsync(await readFile(out)), { decisionPath: options.entrypoint, skipVerification: true }).built;
    return { ...built, testsRun, testsPassed: tested ? passedCount(tested.stdout) : undefined };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `opa test` ends a passing run with "PASS: <passed>/<total>". */
function passedCount(stdout: string): number | undefined {
  const m = /^PASS: (\d+)\/\d+$/m.exec(stdout);
  return m ? Number(m[1]) : undefined;
}
