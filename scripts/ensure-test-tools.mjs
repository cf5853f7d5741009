#!/usr/bin/env node
// The test suite drives headless Chromium (dashboard test), the openssl CLI (TLS tests) and two
// gRPC clients that know the services only through server reflection: grpcurl and ghz.
// Installs Chromium and openssl from Debian's packages when missing and we are root; grpcurl and
// ghz with `go install` at pinned versions (the ones bench/tools.ts builds) into $(go env GOPATH)/bin.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

// Versions the Go module proxy serves. ghz's version list stops at v0.93.0 there, but v0.120.0
// itself is served, so it is installed by exact version.
const GO_TOOLS = {
  grpcurl: "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3",
  ghz: "github.com/bojand/ghz/cmd/ghz@v0.120.0",
};

function goBin() {
  const gopath = process.env.GOPATH ?? path.join(os.homedir(), "go");
  return process.env.GOBIN ?? path.join(gopath.split(path.delimiter)[0], "bin");
}

/** The tool's path: on PATH, or where `go install` puts it (test/support/go-tools.ts looks the same way). */
function findGoTool(name) {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), goBin()].filter(Boolean);
  for (const dir of dirs) if (existsSync(path.join(dir, name))) return path.join(dir, name);
  return undefined;
}

function ensureGoTools() {
  for (const [name, pkg] of Object.entries(GO_TOOLS)) {
    if (findGoTool(name)) continue;
    if (spawnSync("go", ["version"]).status !== 0) {
      process.stderr.write(`missing test tool ${name}; install Go, then: go install ${pkg}\n`);
      process.exit(1);
    }
    process.stderr.write(`installing ${name} (go install ${pkg})\n`);
    execFileSync("go", ["install", pkg], { stdio: "inherit", cwd: os.tmpdir(), env: { ...process.env, GOFLAGS: "-buildvcs=false" } });
  }
}

function ensureDebianTools() {
  const missing = [];
  if (!existsSync(process.env.CHROMIUM_BIN ?? "/usr/bin/chromium")) missing.push("chromium");
  if (spawnSync("openssl", ["version"]).status !== 0) missing.push("openssl");
  // The suite's own Redis servers and clusters (test/support/redis-server.ts) need redis-server and redis-cli.
  if (spawnSync("redis-server", ["--version"]).status !== 0 || spawnSync("redis-cli", ["--version"]).status !== 0) missing.push("redis-server");
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || spawnSync("apt-get", ["--version"]).status !== 0) {
    process.stderr.write(`missing test tools: ${missing.join(", ")}; install them (apt-get install -y ${missing.join(" ")}) or set CHROMIUM_BIN\n`);
    process.exit(1);
  }
  process.stderr.write(`installing ${missing.join(", ")} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", ...missing], { stdio: "inherit", env });
}

ensureDebianTools();
ensureGoTools();
