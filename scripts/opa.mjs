#!/usr/bin/env node
// Runs the opa CLI, installing the pinned version with `go install` first when it is missing.
// Usage: node scripts/opa.mjs <opa args...>   (prints the binary's path with --which)
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const VERSION = "v1.22.3";

function find() {
  if (process.env.OPA_BIN) return process.env.OPA_BIN;
  const gopath = process.env.GOPATH ?? path.join(os.homedir(), "go");
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), process.env.GOBIN, path.join(gopath, "bin")].filter(Boolean);
  for (const dir of dirs) if (existsSync(path.join(dir, "opa"))) return path.join(dir, "opa");
  return undefined;
}

let opa = find();
if (!opa) {
  process.stderr.write(`opa not found; installing github.com/open-policy-agent/opa@${VERSION} with go install\n`);
  execFileSync("go", ["install", `github.com/open-policy-agent/opa@${VERSION}`], { stdio: "inherit" });
  opa = find();
  if (!opa) {
    process.stderr.write("go install finished but opa is still not found; add $(go env GOPATH)/bin to PATH\n");
    process.exit(1);
  }
}
const args = process.argv.slice(2);
if (args[0] === "--which") {
  process.stdout.write(`${opa}\n`);
  process.exit(0);
}
const r = spawnSync(opa, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
