/**
 * Which way imports may point in src/. Each layer may import its own layer and the layers listed
 * before it, never one listed after it; `npm test` runs this (npm run lint:deps) so an upward
 * import fails the build. README's Development section shows the same order.
 */
const LAYERS = [
  ["base", "^src/(errors|json|paths)\\.ts$|^src/(gen|crypto|net)/"],
  ["observability", "^src/observability/"],
  ["io", "^src/(watch|tls)/"],
  ["stores and readers", "^src/(limits|audit|bundle)/"],
  ["config", "^src/config/"],
  ["engines", "^src/(policy|ratelimit|decision-log)/"],
  ["authz", "^src/authz/"],
  ["llm", "^src/llm/"],
  ["extproc", "^src/extproc/"],
  ["status", "^src/status/"],
  ["report", "^src/report/"],
  ["server", "^src/(server|cluster)/"],
  ["admin", "^src/admin/"],
  ["composition", "^src/(app|pipeline)\\.ts$|^src/cli/"],
];

const upward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `no-upward-from-${name.replace(/\s+/g, "-")}`,
  comment: `${name} may not import ${LAYERS.slice(i + 1).map(([n]) => n).join(", ")}`,
  severity: "error",
  from: { path },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => `(${p})`).join("|") },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: "no-circular",
      comment: "a cycle hides which module owns what",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "decision-log-through-its-index",
      comment: "decision-log/ is used through decision-log/index.ts only",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/decision-log/" },
      to: { path: "^src/decision-log/", pathNot: "^src/decision-log/index\\.ts$" },
    },
    {
      name: "every-src-file-in-a-layer",
      comment: "a new folder must be placed in LAYERS so its direction is checked",
      severity: "error",
      from: { path: "^src/", pathNot: LAYERS.map(([, p]) => `(${p})`).join("|") },
      to: {},
    },
    {
      name: "no-unresolvable",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true, path: "^\\." },
    },
  ],
  options: {
    // TypeScript 7 has no JS compiler API for dependency-cruiser; swc parses the sources, type-only imports included.
    parser: "swc",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/gen/" },
  },
};
