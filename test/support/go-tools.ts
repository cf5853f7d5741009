import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * A Go-built client the suite drives (grpcurl, ghz): on PATH or in $(go env GOPATH)/bin, where
 * scripts/ensure-test-tools.mjs installs it at a pinned version when `npm test` starts.
 */
export function goTool(name: "grpcurl" | "ghz"): string {
  const gopath = process.env["GOPATH"] ?? path.join(os.homedir(), "go");
  const dirs = [...(process.env["PATH"] ?? "").split(path.delimiter), process.env["GOBIN"] ?? path.join(gopath.split(path.delimiter)[0]!, "bin")].filter(Boolean);
  for (const dir of dirs) if (existsSync(path.join(dir, name))) return path.join(dir, name);
  throw new Error(`${name} is not installed; run node scripts/ensure-test-tools.mjs (npm test does)`);
}
