import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function repoPath(relative: string): string {
  return path.join(REPO_ROOT, relative);
}

export function readRepoFile(relative: string): string {
  return readFileSync(repoPath(relative), "utf8");
}

/** YAML 1.2 (as Envoy and Compose read it), duplicate keys rejected, anchors resolved. */
export function readRepoYaml(relative: string): unknown {
  return parseYaml(readRepoFile(relative), { uniqueKeys: true, maxAliasCount: 1000 });
}

export function readRepoJson(relative: string): unknown {
  return JSON.parse(readRepoFile(relative)) as unknown;
}

/** Deep copy of plain YAML/JSON data, for making deliberately broken variants. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}
