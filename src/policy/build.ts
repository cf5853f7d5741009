import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { extract } from "tar";
import { TollgateError } from "../errors.js";
import { capabilitiesFile } from "../paths.js";
import { runOpa } from "./opa-cli.js";
import { LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT, type BuiltPolicy } from "../bundle/built-policy.js";
import { scanPolicyDir } from "./scan-dir.js";

export interface BuildOptions {
  dir: string;
  entrypoint: string;
  runTests: boolean;
  opaBin?: string;
}

/**
 * Compiles a policies folder with `opa build -t wasm`, restricted to tollgate's capabilities so
 * a policy using a built-in that tollgate cannot run fails here with OPA's own message.
 * Then runs `opa test` when the folder has tests. Nothing is activated by this function.
 */
export async function buildPolicies(options: BuildOptions): Promise<BuiltPolicy> {
  const dir = path.resolve(options.dir);
  const scan = scanPolicyDir(dir);
  const work = mkdtempSync(path.join(os.tmpdir(), "tollgate-build-"));
  try {
    const out = path.join(work, "bundle.tar.gz");
    const entrypoints = [options.entrypoint, ...(scan.definesLogMask ? [LOG_MASK_ENTRYPOINT] : []), ...(scan.definesLogDrop ? [LOG_DROP_ENTRYPOINT] : [])];
    await runOpa(
      [
        "build", "-t", "wasm",
        ...entrypoints.flatMap((e) => ["-e", e]),
        "--capabilities", capabilitiesFile,
        "--ignore", "*_test.rego",
        "-o", out,
        dir,
      ],
      { opaBin: options.opaBin },
    );
    if (options.runTests && scan.hasTests) await runOpa(["test", dir], { opaBin: options.opaBin });

    const unpacked = path.join(work, "bundle");
    await extract({ file: out, cwd: work, strict: true, preservePaths: false, onReadEntry: (e) => { e.path = path.join("bundle", e.path); } });
    const wasmFile = path.join(unpacked, "policy.wasm");
    if (!existsSync(wasmFile)) throw new TollgateError("policy_build_error", "opa build produced no policy.wasm");
    const dataFile = path.join(unpacked, "data.json");
    const data: unknown = existsSync(dataFile) ? JSON.parse(readFileSync(dataFile, "utf8")) : {};
    return {
      revision: scan.revision,
      wasm: readFileSync(wasmFile),
      data,
      entrypoint: options.entrypoint,
      maskEntrypoint: scan.definesLogMask ? LOG_MASK_ENTRYPOINT : undefined,
      dropEntrypoint: scan.definesLogDrop ? LOG_DROP_ENTRYPOINT : undefined,
      testsRun: options.runTests && scan.hasTests,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
