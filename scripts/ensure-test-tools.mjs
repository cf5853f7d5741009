#!/usr/bin/env node
// The test suite drives headless Chromium (dashboard test) and the openssl CLI (TLS tests).
// Installs them from Debian's packages when missing and we are root; otherwise says how.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const missing = [];
if (!existsSync(process.env.CHROMIUM_BIN ?? "/usr/bin/chromium")) missing.push("chromium");
if (spawnSync("openssl", ["version"]).status !== 0) missing.push("openssl");
if (missing.length === 0) process.exit(0);

if (process.getuid?.() !== 0 || spawnSync("apt-get", ["--version"]).status !== 0) {
  process.stderr.write(`missing test tools: ${missing.join(", ")}; install them (apt-get install -y ${missing.join(" ")}) or set CHROMIUM_BIN\n`);
  process.exit(1);
}
process.stderr.write(`installing ${missing.join(", ")} with apt-get\n`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
execFileSync("apt-get", ["install", "-y", "-qq", ...missing], { stdio: "inherit", env });
