import { arrayField, asStruct, decodeError, field, intField, parseJsonText, stringField, type Fields } from "./go-json.js";
import { rootPathsOverlap } from "./roots.js";

export interface WasmResolver {
  entrypoint: string;
  module: string;
}

export interface BundleManifest {
  revision: string;
  /** Normalized (no leading or trailing "/"); [""] when the manifest names none. */
  roots: string[];
  wasm: WasmResolver[];
  regoVersion: number | undefined;
  metadata: Record<string, unknown> | undefined;
}

const WHAT = "bundle manifest";

function wasmResolver(value: unknown): WasmResolver {
  const obj = asStruct(value, WHAT);
  return { entrypoint: stringField(obj, "entrypoint", WHAT), module: stringField(obj, "module", WHAT) };
}

function regoVersion(obj: Fields): number | undefined {
  const version = intField(obj, "rego_version", WHAT);
  if (version !== undefined && version !== 0 && version !== 1) throw decodeError(WHAT, `invalid rego version ${version}`);
  const perFile = field(obj, "file_rego_versions");
  if (perFile !== null) {
    for (const [pattern, v] of Object.entries(asStruct(perFile, WHAT)).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (v !== 0 && v !== 1) throw decodeError(WHAT, `invalid rego version ${JSON.stringify(v)} for file '${pattern}'`);
    }
  }
  return version;
}

/**
 * Parses .manifest (absent: the defaults OPA uses) and applies OPA's own manifest checks that
 * need nothing but the manifest: roots are trimmed of "/" and must not overlap, rego versions
 * must be 0 or 1.
 */
export function parseManifest(bytes: Buffer | undefined): BundleManifest {
  const obj = bytes === undefined ? {} : asStruct(parseJsonText(bytes, WHAT), WHAT);
  const rawRoots = arrayField(obj, "roots", WHAT);
  const roots = (rawRoots ?? [""]).map((r) => {
    if (typeof r !== "string") throw decodeError(WHAT, "field roots must hold strings");
    return r.replace(/^\/+|\/+$/g, "");
  });
  for (let i = 0; i < roots.length; i++) {
    for (let j = i + 1; j < roots.length; j++) {
      if (rootPathsOverlap(roots[i] as string, roots[j] as string)) throw decodeError(WHAT, `manifest has overlapped roots: '${roots[i]}' and '${roots[j]}'`);
    }
  }
  const metadata = field(obj, "metadata");
  return {
    revision: stringField(obj, "revision", WHAT),
    roots,
    wasm: (arrayField(obj, "wasm", WHAT) ?? []).map(wasmResolver),
    regoVersion: regoVersion(obj),
    metadata: metadata === null ? undefined : asStruct(metadata, WHAT),
  };
}
