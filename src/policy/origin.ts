/** Where a revision came from. */
export type PolicyOrigin =
  | { kind: "folder"; path: string }
  | { kind: "bundle-file"; path: string }
  | { kind: "bundle-server"; url: string; persisted?: { savedAt: string | undefined } };

/**
 * The origin as one string, the form audit records and logs have always carried
 * ("dir:/path", "bundle:/file-or-url", "persisted-bundle:url"), so existing trails read the same.
 */
export function describeOrigin(origin: PolicyOrigin): string {
  switch (origin.kind) {
    case "folder":
      return `dir:${origin.path}`;
    case "bundle-file":
      return `bundle:${origin.path}`;
    case "bundle-server":
      return `${origin.persisted ? "persisted-" : ""}bundle:${origin.url}`;
  }
}

/** The folder, file or URL an origin names. */
export function originLocation(origin: PolicyOrigin): string {
  return origin.kind === "bundle-server" ? origin.url : origin.path;
}
