import { createHash } from "node:crypto";
import { readdir, readFile, stat as statPath } from "node:fs/promises";
import path from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { TollgateError } from "../errors.js";

const POLICY_FILE = /\.(rego|json|ya?ml)$/;
const MAX_FILES = 2000;
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

export interface PolicyDirScan {
  files: string[];
  /** The source of every module but the tests (what `opa build --ignore *_test.rego` compiles), by path. */
  modules: Record<string, string>;
  /** Content hash of every policy and data file: the revision logged with each decision. */
  revision: string;
  hasTests: boolean;
  definesLogMask: boolean;
  definesLogDrop: boolean;
}

async function walk(dir: string, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await walk(full, out);
    else if (entry.isFile() && POLICY_FILE.test(entry.name)) out.push(full);
    if (out.length > MAX_FILES) throw new TollgateError("policy_build_error", `more than ${MAX_FILES} files under ${dir}`);
  }
}

/** Bytes hashed per turn of the event loop (about 2 ms of SHA-256). */
const HASH_SLICE = 1024 * 1024;

/**
 * Lists and hashes a policies folder. A server rescans on every edit while it answers Checks: the
 * reads are asynchronous and a large data.json is hashed in slices, so neither holds them.
 */
export async function scanPolicyDir(dir: string): Promise<PolicyDirScan> {
  let stat;
  try {
    stat = await statPath(dir);
  } catch (err) {
    throw new TollgateError("config_error", `policies directory ${dir} does not exist`, { cause: err });
  }
  if (!stat.isDirectory()) throw new TollgateError("config_error", `policies path ${dir} is not a directory`);
  const files: string[] = [];
  await walk(dir, files);
  files.sort();
  const hash = createHash("sha256");
  let total = 0;
  let hasTests = false;
  let definesLogMask = false;
  let definesLogDrop = false;
  const modules: Record<string, string> = {};
  for (const file of files) {
    const content = await readFile(file);
    total += content.length;
    if (total > MAX_TOTAL_BYTES) throw new TollgateError("policy_build_error", `policies under ${dir} exceed ${MAX_TOTAL_BYTES} bytes`);
    hash.update(path.relative(dir, file)).update("\0");
    for (let at = 0; at < content.length; at += HASH_SLICE) {
      if (at > 0) await nextTurn();
      hash.update(content.subarray(at, at + HASH_SLICE));
    }
    hash.update("\0");
    if (file.endsWith("_test.rego")) hasTests = true;
    else if (file.endsWith(".rego")) {
      const text = content.toString("utf8");
      modules[file] = text;
      if (/^package\s+system\.log\b/m.test(text)) {
        if (/^\s*mask\b/m.test(text)) definesLogMask = true;
        if (/^\s*(default\s+)?drop\b/m.test(text)) definesLogDrop = true;
      }
    }
  }
  return { files, modules, revision: hash.digest("hex").slice(0, 16), hasTests, definesLogMask, definesLogDrop };
}
