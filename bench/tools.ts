import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TollgateError } from "../src/errors.js";

/** Where the tools are built; TOLLGATE_BENCH_BIN overrides it (to try a clean build without touching bench/.bin). */
export const BIN_DIR = process.env["TOLLGATE_BENCH_BIN"] ?? path.join(import.meta.dirname, ".bin");

/** Go modules the bench installs, pinned to versions the Go module proxy serves. */
export const TOOLS = {
  ghz: { module: "github.com/bojand/ghz", pkg: "github.com/bojand/ghz/cmd/ghz", version: "v0.120.0", built: "ghz" },
  grpcurl: { module: "github.com/fullstorydev/grpcurl", pkg: "github.com/fullstorydev/grpcurl/cmd/grpcurl", version: "v1.9.3", built: "grpcurl" },
  // The proxy serves this exact version but not the module's version list, which `go install pkg@v`
  // reads (for deprecation notices); and the checksum database has no entry for it. So it is built
  // from a throwaway module that requires it, with the checksum database skipped for it alone.
  "opa-envoy-plugin": {
    module: "github.com/open-policy-agent/opa-envoy-plugin",
    pkg: "github.com/open-policy-agent/opa-envoy-plugin/cmd/opa-envoy-plugin",
    version: "v1.14.1-envoy",
    built: "opa-envoy-plugin",
    viaModule: true,
  },
  // envoyproxy/ratelimit tags stop at v1.4.0 (2019); its main branch is served as a pseudo-version.
  ratelimit: { module: "github.com/envoyproxy/ratelimit", pkg: "github.com/envoyproxy/ratelimit/src/service_cmd", version: "v1.4.1-0.20260122083618-3fb702589d36", built: "service_cmd" },
} as const;

export type ToolName = keyof typeof TOOLS;

export function goAvailable(): boolean {
  return spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
}

export function toolPath(name: ToolName): string {
  return path.join(BIN_DIR, name);
}

function stampPath(name: ToolName): string {
  return path.join(BIN_DIR, `${name}.version`);
}

/** True when bench/.bin holds this tool at the pinned version. */
export function toolReady(name: ToolName): boolean {
  const stamp = stampPath(name);
  return existsSync(toolPath(name)) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === TOOLS[name].version;
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; what: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err = (err + d.toString("utf8")).slice(-4000);
    });
    child.once("error", (e) => reject(new TollgateError("config_error", `${opts.what}: ${e.message}`)));
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new TollgateError("config_error", `${opts.what} failed (exit ${code}):\n${err}`)),
    );
  });
}

async function build(name: ToolName): Promise<void> {
  const t = TOOLS[name];
  const gobin = mkdtempSync(path.join(os.tmpdir(), `tollgate-bench-${name}-`));
  const env = { ...process.env, GOBIN: gobin, GOFLAGS: "-buildvcs=false" };
  const what = `building ${name} (${t.pkg}@${t.version})`;
  try {
    if ("viaModule" in t) {
      const mod = path.join(gobin, "mod");
      mkdirSync(mod);
      writeFileSync(path.join(mod, "go.mod"), `module tollgate.local/bench-peer\n\ngo 1.22\n\nrequire ${t.module} ${t.version}\n`);
      writeFileSync(path.join(mod, "tools.go"), `//go:build tools\n\npackage tools\n\nimport _ "${t.pkg}"\n`);
      const modEnv = { ...env, GONOSUMDB: t.module, GOTOOLCHAIN: "local" };
      await run("go", ["mod", "tidy"], { cwd: mod, env: modEnv, what });
      await run("go", ["install", t.pkg], { cwd: mod, env: modEnv, what });
    } else {
      await run("go", ["install", `${t.pkg}@${t.version}`], { cwd: gobin, env, what });
    }
    mkdirSync(BIN_DIR, { recursive: true });
    renameSync(path.join(gobin, t.built), toolPath(name));
    writeFileSync(stampPath(name), `${t.version}\n`);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
}

/** Builds every missing tool (in parallel) into bench/.bin and returns their paths. */
export async function ensureTools<N extends ToolName>(names: readonly N[], log: (line: string) => void = () => undefined): Promise<Record<N, string>> {
  const missing = names.filter((n) => !toolReady(n));
  if (missing.length > 0) {
    if (!goAvailable()) throw new TollgateError("config_error", `go is not on PATH; it is needed to build ${missing.join(", ")} into ${BIN_DIR}`);
    log(`building ${missing.join(", ")} into ${BIN_DIR} (first run only; a few minutes)`);
    await Promise.all(missing.map((n) => build(n)));
  }
  return Object.fromEntries(names.map((n) => [n, toolPath(n)])) as Record<N, string>;
}
