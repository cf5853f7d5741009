#!/usr/bin/env node
// Regenerates src/policy/capabilities.json: the built-ins a tollgate policy may call, i.e. those
// OPA's WASM compiler implements natively, those the opa-wasm SDK implements in JavaScript and
// tollgate's host built-ins (src/policy/wasm/builtins/names.json). Declarations come from
// `opa capabilities --current`; the native list from the OPA module source in the Go module cache.
//
// Usage: node scripts/gen-capabilities.mjs [--check]   (OPA_BIN overrides the opa binary)
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outFile = path.join(root, "src", "policy", "capabilities.json");
const hostNamesFile = path.join(root, "src", "policy", "wasm", "builtins", "names.json");

function fail(message) {
  console.error(`gen-capabilities: ${message}`);
  process.exit(2);
}

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    fail(`${cmd} ${args.join(" ")} failed: ${err.stderr || err.message}`);
  }
}

function opaBinary() {
  if (process.env.OPA_BIN) return process.env.OPA_BIN;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, "opa"))) return path.join(dir, "opa");
  }
  const goBin = path.join(os.homedir(), "go", "bin", "opa");
  if (existsSync(goBin)) return goBin;
  fail("opa not found (set OPA_BIN or put opa on PATH)");
}

/** The OPA module source matching the binary's version, downloading it into the module cache if absent. */
function opaModuleDir(version) {
  const modCache = run("go", ["env", "GOMODCACHE"]).trim();
  const dir = path.join(modCache, "github.com", "open-policy-agent", `opa@v${version}`);
  if (existsSync(dir)) return dir;
  const info = JSON.parse(run("go", ["mod", "download", "-json", `github.com/open-policy-agent/opa@v${version}`]));
  if (!info.Dir || !existsSync(info.Dir)) fail(`go mod download gave no source directory for opa v${version}`);
  return info.Dir;
}

/** Names of the built-ins internal/compiler/wasm compiles to native functions. */
function nativeWasmBuiltins(moduleDir) {
  const wasmGo = readFileSync(path.join(moduleDir, "internal", "compiler", "wasm", "wasm.go"), "utf8");
  const table = /var builtinsFunctions = map\[string\]string\{([\s\S]*?)\n\}/.exec(wasmGo);
  if (!table) fail("builtinsFunctions table not found in internal/compiler/wasm/wasm.go");
  const idents = [...table[1].matchAll(/ast\.(\w+)\.Name\s*:/g)].map((m) => m[1]);

  const declared = new Map();
  const astDir = path.join(moduleDir, "v1", "ast");
  for (const file of readdirSync(astDir).filter((f) => f.endsWith(".go") && !f.endsWith("_test.go"))) {
    const source = readFileSync(path.join(astDir, file), "utf8");
    for (const m of source.matchAll(/var (\w+) = &Builtin\{\s*Name:\s*"([^"]+)"/g)) declared.set(m[1], m[2]);
  }
  const names = idents.map((id) => declared.get(id) ?? fail(`cannot resolve ast.${id} to a built-in name`));
  // IsWasmEnabled: unification and assignment are compiled away by the planner.
  return [...names, "eq", "assign"];
}

function sdkBuiltins() {
  const require = createRequire(import.meta.url);
  const entry = require.resolve("@open-policy-agent/opa-wasm");
  return Object.keys(require(path.join(path.dirname(entry), "builtins", "index.js")));
}

/** OPA's versioned capabilities files keep only the type information of a declaration. */
function compact(value, topLevel = true) {
  if (Array.isArray(value)) return value.map((v) => compact(v, false));
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === "description" || key === "categories") continue;
    if (key === "name" && !topLevel) continue;
    out[key] = compact(v, false);
  }
  return out;
}

const opa = opaBinary();
const version = /Version:\s*(\S+)/.exec(run(opa, ["version"]))?.[1] ?? fail("cannot read the opa version");
const current = JSON.parse(run(opa, ["capabilities", "--current"]));
const moduleDir = opaModuleDir(version);

const sources = {
  native: nativeWasmBuiltins(moduleDir),
  sdk: sdkBuiltins(),
  host: JSON.parse(readFileSync(hostNamesFile, "utf8")),
};
const byName = new Map(current.builtins.map((b) => [b.name, b]));
for (const name of sources.host) if (!byName.has(name)) fail(`host built-in ${name} is not an OPA ${version} built-in`);
const wanted = new Set(Object.values(sources).flat().filter((name) => byName.has(name)));

let wasmAbiVersions = current.wasm_abi_versions;
if (!wasmAbiVersions) {
  // An opa binary built without a WASM runtime omits them; OPA's own capabilities file for the release has them.
  const released = path.join(moduleDir, "capabilities", `v${version}.json`);
  wasmAbiVersions = existsSync(released) ? JSON.parse(readFileSync(released, "utf8")).wasm_abi_versions : undefined;
  if (!wasmAbiVersions) fail("no wasm_abi_versions in opa capabilities --current nor in the release's capabilities file");
}

const capabilities = {
  builtins: [...wanted].sort().map((name) => compact(byName.get(name))),
  future_keywords: [...(current.future_keywords ?? [])].sort(),
  wasm_abi_versions: wasmAbiVersions,
  features: [...(current.features ?? [])].sort(),
};
const text = `${JSON.stringify(capabilities, null, 2)}\n`;

if (process.argv.includes("--check")) {
  const existing = existsSync(outFile) ? readFileSync(outFile, "utf8") : "";
  if (existing !== text) {
    console.error(`gen-capabilities: ${path.relative(root, outFile)} is out of date; run node scripts/gen-capabilities.mjs`);
    process.exit(1);
  }
  console.log(`gen-capabilities: ${path.relative(root, outFile)} is up to date (${capabilities.builtins.length} built-ins)`);
} else {
  writeFileSync(outFile, text);
  console.log(`gen-capabilities: wrote ${path.relative(root, outFile)} (${capabilities.builtins.length} built-ins, opa ${version})`);
}
