import { TollgateError } from "../errors.js";
import { insertData, isObject, walkData, type JsonObject } from "./data.js";
import { parseJsonText } from "./go-json.js";
import { parseManifest, type BundleManifest } from "./manifest.js";
import type { BundleArchive } from "./read.js";
import { rootPathsContain, rootPathsContainSegments } from "./roots.js";

export const SIGNATURES_FILE = ".signatures.json";

export const LOG_MASK_ENTRYPOINT = "system/log/mask";
export const LOG_DROP_ENTRYPOINT = "system/log/drop";

/**
 * The parts of the input a policy can read: per key, the subtree kept whole (true) or the parts of
 * it that can be read (src/policy/input-paths.ts).
 */
export interface InputPaths {
  [key: string]: InputPaths | true;
}

export interface BuiltPolicy {
  revision: string;
  wasm: Buffer;
  data: unknown;
  entrypoint: string;
  maskEntrypoint: string | undefined;
  dropEntrypoint: string | undefined;
  testsRun: boolean;
  /** How many `opa test` cases passed, when they ran (a failing one rejects the build). */
  testsPassed?: number | undefined;
  /** The id of the key whose signature was verified (signed bundles only). */
  keyId?: string | undefined;
  /** What of the input the decision can read (src/policy/input-paths.ts); undefined: all of it. */
  inputPaths?: InputPaths | undefined;
}

export interface BundlePolicy {
  built: BuiltPolicy;
  manifest: BundleManifest;
  /** Where the revision came from: the manifest, or the archive digest when the manifest names none. */
  revisionSource: "manifest" | "digest";
}

function fail(message: string): TollgateError {
  return new TollgateError("policy_build_error", `bundle: ${message}`);
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf("/") + 1);
}

function goList(items: readonly string[]): string {
  return `[${items.join(" ")}]`;
}

const IDENT = "[A-Za-z_][A-Za-z0-9_]*";
const PACKAGE = new RegExp(`^\\s*package\\s+(${IDENT}(?:\\.${IDENT}|\\["(?:[^"\\\\]|\\\\.)*"\\])*)`, "m");

/** The data path a module's package occupies, e.g. `package a.b["c"]` → [a, b, c]. */
export function packagePath(source: string): string[] | undefined {
  const withoutComments = source.replace(/#[^\n]*/g, "");
  const m = PACKAGE.exec(withoutComments);
  if (!m) return undefined;
  const parts: string[] = [];
  for (const piece of (m[1] as string).matchAll(new RegExp(`(${IDENT})|\\[("(?:[^"\\\\]|\\\\.)*")\\]`, "g"))) {
    parts.push(piece[1] ?? (JSON.parse(piece[2] as string) as string));
  }
  return parts;
}

function collectFiles(archive: BundleArchive) {
  const wasm = new Map<string, Buffer>();
  const modules = new Map<string, Buffer>();
  const data: JsonObject = {};
  let manifestFile: string | undefined;
  for (const [file, content] of archive.files) {
    const base = baseName(file);
    if (base === SIGNATURES_FILE) continue;
    if (base === "patch.json") throw fail(`delta bundles (${file}) are not supported`);
    if (file.endsWith(".rego")) modules.set(file, content);
    else if (base === "policy.wasm") wasm.set(file, content);
    else if (base === "data.json") insertData(data, file, parseJsonText(content, `bundle data ${file}`));
    else if (base === "data.yaml" || base === "data.yml") throw fail(`YAML data files (${file}) are not supported; use data.json`);
    else if (file.endsWith(".manifest.pb")) throw fail(`protobuf manifests (${file}) are not supported`);
    else if (file.endsWith(".manifest")) {
      if (manifestFile !== undefined) throw fail(`multiple manifest files: "${manifestFile}" and "${file}"`);
      manifestFile = file;
    }
  }
  return { wasm, modules, data, manifest: parseManifest(manifestFile === undefined ? undefined : archive.files.get(manifestFile)) };
}

/** OPA's validateAndInjectDefaults: every module, wasm entrypoint and data path must lie inside the roots. */
function checkRoots(manifest: BundleManifest, modules: Map<string, Buffer>, wasm: Map<string, Buffer>, data: JsonObject): void {
  const roots = manifest.roots;
  for (const [file, source] of modules) {
    const pkg = packagePath(source.toString("utf8"));
    if (pkg === undefined) throw fail(`module ${file} has no package declaration`);
    if (!rootPathsContainSegments(roots, pkg)) throw fail(`manifest roots ${goList(roots)} do not permit 'package ${pkg.join(".")}' in module '${file}'`);
  }
  const seen = new Set<string>();
  for (const resolver of manifest.wasm) {
    if (!wasm.has(resolver.module.replace(/^\/+/, ""))) throw fail(`manifest references wasm module '${resolver.module}' but the module file does not exist`);
    if (!rootPathsContain(roots, resolver.entrypoint)) {
      throw fail(`manifest roots ${goList(roots)} do not permit '${resolver.entrypoint}' entrypoint for wasm module '${resolver.module}'`);
    }
    if (seen.has(resolver.entrypoint)) throw fail(`entrypoint '${resolver.entrypoint}' cannot be used by more than one wasm module`);
    seen.add(resolver.entrypoint);
  }
  walkData(data, (rawPath, node) => {
    const path = rawPath.replace(/^\/+|\/+$/g, "");
    if (rootPathsContain(roots, path)) return true;
    // OPA keeps descending while any single segment of the path, read as a root, contains a root.
    if (isObject(node) && roots.some((root) => rootPathsContain(path.split("/"), root))) return false;
    throw fail(`manifest roots ${goList(roots)} do not permit data at path '/${path}' (hint: check bundle directory structure)`);
  });
}

function normalizeEntrypoint(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

/** Picks the wasm module serving the decision path; a bundle without wasm resolvers may hold one policy.wasm. */
function selectModule(manifest: BundleManifest, wasm: Map<string, Buffer>, decisionPath: string): { module: string; entrypoints: string[] } {
  if (wasm.size === 0) throw fail("no policy.wasm (build it with `opa build -t wasm`)");
  if (manifest.wasm.length === 0) {
    if (wasm.size > 1) throw fail(`${wasm.size} wasm modules and a manifest that maps no entrypoints to them`);
    return { module: [...wasm.keys()][0] as string, entrypoints: [] };
  }
  const resolver = manifest.wasm.find((r) => normalizeEntrypoint(r.entrypoint) === decisionPath);
  if (!resolver) {
    const known = manifest.wasm.map((r) => r.entrypoint).join(", ");
    throw fail(`no wasm entrypoint ${decisionPath} (the configured decision path); its manifest lists: ${known}`);
  }
  const module = resolver.module.replace(/^\/+/, "");
  return { module, entrypoints: manifest.wasm.filter((r) => r.module.replace(/^\/+/, "") === module).map((r) => normalizeEntrypoint(r.entrypoint)) };
}

/**
 * Turns a read (and, when configured, verified) bundle into the BuiltPolicy a folder build
 * produces, so both activate the same way. Data files are merged by their directory paths, the
 * manifest's roots are enforced as OPA does, and the decision path must be one of the manifest's
 * wasm entrypoints.
 */
export function bundleToBuiltPolicy(archive: BundleArchive, options: { decisionPath: string }): BundlePolicy {
  const { wasm, modules, data, manifest } = collectFiles(archive);
  checkRoots(manifest, modules, wasm, data);
  const decisionPath = normalizeEntrypoint(options.decisionPath);
  const { module, entrypoints } = selectModule(manifest, wasm, decisionPath);
  const revisionSource = manifest.revision === "" ? "digest" : "manifest";
  return {
    built: {
      revision: manifest.revision === "" ? `sha256:${archive.digest.slice(0, 16)}` : manifest.revision,
      wasm: wasm.get(module) as Buffer,
      data,
      entrypoint: decisionPath,
      maskEntrypoint: entrypoints.includes(LOG_MASK_ENTRYPOINT) ? LOG_MASK_ENTRYPOINT : undefined,
      dropEntrypoint: entrypoints.includes(LOG_DROP_ENTRYPOINT) ? LOG_DROP_ENTRYPOINT : undefined,
      testsRun: false,
    },
    manifest,
    revisionSource,
  };
}
