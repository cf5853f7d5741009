import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { TollgateError } from "../../errors.js";
import { compileConfig } from "./compile.js";
import { readRawFile } from "./schema.js";
import type { RateLimitConfig } from "./types.js";
import { configError, parseYamlTree } from "./yaml-tree.js";

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_FILES = 1000;

export interface ConfigSource {
  /** Shown in error messages; a file name relative to the config directory. */
  name: string;
  text: string;
}

export interface LoadOptions {
  /** Several files may add descriptors to one domain (ratelimit's MERGE_DOMAIN_CONFIG). Default false. */
  mergeDomains?: boolean;
}

export interface LoadDirOptions extends LoadOptions {
  dir: string;
  /** Per file; larger files are rejected. Default 1 MiB. */
  maxFileBytes?: number;
  /** Default 1000. */
  maxFiles?: number;
}

/** Builds a config from in-memory sources, in the given order. Throws TollgateError("config_error"). */
export function loadConfigFromSources(sources: readonly ConfigSource[], options: LoadOptions = {}): RateLimitConfig {
  const raws = sources.map((s) => readRawFile(s.name, parseYamlTree(s.name, s.text)));
  return compileConfig(raws, options);
}

/** Files a directory load reads: *.yaml and *.yml, not hidden (Kubernetes ConfigMap "..data" entries are skipped). */
export function isConfigFileName(name: string): boolean {
  return !name.startsWith(".") && /\.ya?ml$/i.test(name);
}

/**
 * Loads every *.yaml / *.yml directly in dir, sorted by name. Symlinks are followed (ConfigMap mounts).
 * Throws TollgateError("config_error") naming the file at fault.
 */
export async function loadConfigDir(options: LoadDirOptions): Promise<RateLimitConfig> {
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
  let names: string[];
  try {
    names = (await readdir(options.dir)).filter(isConfigFileName).sort();
  } catch (err: unknown) {
    throw new TollgateError("config_error", `cannot read rate limit config directory ${options.dir}: ${describe(err)}`, { cause: err });
  }
  if (names.length > maxFiles) {
    throw new TollgateError("config_error", `rate limit config directory ${options.dir} holds ${names.length} files, more than the limit of ${maxFiles}`);
  }
  const sources: ConfigSource[] = [];
  for (const name of names) {
    const full = path.join(options.dir, name);
    const text = await readBounded(full, name, maxFileBytes);
    if (text !== undefined) sources.push({ name, text });
  }
  return loadConfigFromSources(sources, { mergeDomains: options.mergeDomains ?? false });
}

/** Reads a file no larger than maxBytes; undefined for things that are not regular files (e.g. directories). */
async function readBounded(full: string, name: string, maxBytes: number): Promise<string | undefined> {
  try {
    const info = await stat(full);
    if (!info.isFile()) return undefined;
    if (info.size > maxBytes) throw configError(name, `file is ${info.size} bytes, more than the limit of ${maxBytes}`);
    const buf = await readFile(full);
    // The file may have grown between stat and read.
    if (buf.length > maxBytes) throw configError(name, `file is ${buf.length} bytes, more than the limit of ${maxBytes}`);
    return buf.toString("utf8");
  } catch (err: unknown) {
    if (err instanceof TollgateError) throw err;
    throw configError(name, `cannot read file: ${describe(err)}`);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
