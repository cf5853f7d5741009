import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT, type BuiltPolicy } from "../bundle/built-policy.js";
import { loadBundle } from "../bundle/load.js";
import { readBundleArchiveAsync } from "../bundle/read.js";
import { capabilitiesFile } from "../paths.js";
import { InputPathCollector, type InputPaths } from "./input-paths.js";
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
    const [, tested, analysis] = await Promise.all([
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
      readInputPaths(scan.modules, work, run),
    ]);
    // Read and gunzipped off the event loop; the tar itself is parsed here.
    const archive = await readBundleArchiveAsync(await readFile(out));
    const built = loadBundle(archive, { decisionPath: options.entrypoint, skipVerification: true }).built;
    // The paths hold only if the modules analysed are the modules opa compiled (opa also reads
    // hidden folders and follows symbolic links, which the scan skips). A Wasm bundle keeps each
    // module's path (rooted at dir, without the leading "/"), not its source.
    const compiled = [...archive.files.keys()].filter((file) => file.endsWith(".rego"));
    const inputPaths = analysis && sameFiles(analysis.files.map((f) => f.replace(/^\/+/, "")), compiled) ? analysis.paths : undefined;
    return { ...built, testsRun, testsPassed: tested ? passedCount(tested.stdout) : undefined, inputPaths };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Analysis {
  /** The modules analysed. */
  files: string[];
  paths: InputPaths | undefined;
}

/**
 * The input paths the folder's modules (tests aside, as in the build) can read, from OPA's own
 * parser; undefined (the whole input) when one can read it all or the parse fails for any reason:
 * leaving the input whole is always correct.
 */
async function readInputPaths(sources: Record<string, string>, work: string, run: { opaBin: string | undefined; background: boolean }): Promise<Analysis | undefined> {
  try {
    const text = JSON.stringify(sources);
    // An edit of data.json alone (new tenants, keys) leaves the modules as they were: no opa run.
    if (lastAnalysis?.key === text) return lastAnalysis.analysis;
    const inputFile = path.join(work, "modules.json");
    await writeFile(inputFile, text);
    const out = await runOpa(["eval", "--format", "json", "--input", inputFile, "[rego.parse_module(f, s) | some f, s in input]"], run);
    const modules = (JSON.parse(out.stdout) as { result?: { expressions?: { value?: unknown }[] }[] }).result?.[0]?.expressions?.[0]?.value;
    if (!Array.isArray(modules) || modules.length === 0 || modules.length !== Object.keys(sources).length) return undefined;
    // A module at a time, each in a turn of its own: the whole pack's AST takes 1-4 ms to walk, and
    // Checks wait for nothing while a reload is being prepared.
    const collector = new InputPathCollector();
    for (const m of modules) {
      collector.add(m);
      await nextTurn();
    }
    const analysis = { files: Object.keys(sources), paths: collector.result() };
    lastAnalysis = { key: text, analysis };
    return analysis;
  } catch {
    return undefined;
  }
}

/** The latest folder analysed, by its modules' sources (as JSON). */
let lastAnalysis: { key: string; analysis: Analysis } | undefined;

/** The same files, in any order. */
function sameFiles(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((t, i) => t === y[i]);
}

/** `opa test` ends a passing run with "PASS: <passed>/<total>". */
function passedCount(stdout: string): number | undefined {
  const m = /^PASS: (\d+)\/\d+$/m.exec(stdout);
  return m ? Number(m[1]) : undefined;
}
