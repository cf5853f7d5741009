/** Bundle root arithmetic, as OPA's bundle package defines it (a root "" owns everything). */

function segments(path: string): string[] {
  return path.split("/");
}

export function rootContains(root: string[], other: string[]): boolean {
  if (root.length === 1 && root[0] === "") return true;
  if (root.length > other.length) return false;
  return root.every((segment, i) => segment === other[i]);
}

export function rootPathsOverlap(a: string, b: string): boolean {
  return rootContains(segments(a), segments(b)) || rootContains(segments(b), segments(a));
}

export function rootPathsContainSegments(roots: readonly string[], path: string[]): boolean {
  return roots.some((root) => rootContains(segments(root), path));
}

export function rootPathsContain(roots: readonly string[], path: string): boolean {
  return rootPathsContainSegments(roots, segments(path));
}
