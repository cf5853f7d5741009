import { execFileSync, spawnSync } from "node:child_process";
import {
  createHmac, generateKeyPairSync, sign, constants, type KeyObject,
} from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { gunzipSync } from "node:zlib";

// The SDK's ES module entry only names loadPolicy; its CommonJS entry has loadPolicySync too.
const sdk = createRequire(import.meta.url)("@open-policy-agent/opa-wasm") as typeof import("@open-policy-agent/opa-wasm");
export const loadPolicySync = sdk.loadPolicySync;

export const repoRoot = path.resolve(import.meta.dirname, "..", "..");
export const capabilitiesFile = path.join(repoRoot, "src", "policy", "capabilities.json");

export function opaBin(): string {
  if (process.env["OPA_BIN"]) return process.env["OPA_BIN"];
  for (const dir of (process.env["PATH"] ?? "").split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, "opa"))) return path.join(dir, "opa");
  }
  return path.join(os.homedir(), "go", "bin", "opa");
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runOpa(args: string[], cwd?: string): RunResult {
  const r = spawnSync(opaBin(), args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix = "tollgate-builtins-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Reads one regular file out of a .tar.gz (ustar, as opa build writes it). */
export function readTarGzEntry(file: string, wanted: string): Buffer {
  const tar = gunzipSync(readFileSync(file));
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, length: number) => header.subarray(start, start + length).toString("utf8").replace(/\0.*$/s, "");
    const name = (field(345, 155) ? `${field(345, 155)}/` : "") + field(0, 100);
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    if (name.replace(/^\/+/, "") === wanted) return Buffer.from(body);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${wanted} not found in ${file}`);
}

/** opa build -t wasm with tollgate's capabilities; returns policy.wasm, or the failed run. */
export function buildWasm(files: Record<string, string>, entrypoints: string[]): { wasm: Buffer } | { failed: RunResult } {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const out = path.join(dir, "bundle.tar.gz");
  const r = runOpa(["build", "-t", "wasm", ...entrypoints.flatMap((e) => ["-e", e]), "--capabilities", capabilitiesFile, "-o", out, ...Object.keys(files)], dir);
  if (r.status !== 0) return { failed: r };
  return { wasm: readTarGzEntry(out, "policy.wasm") };
}

/** Decodes what a host built-in hands opa-wasm: plain values, or JSON text in an ArrayBuffer (exact integers as bigint). */
export function wireValue(result: unknown): unknown {
  if (!(result instanceof ArrayBuffer)) return result;
  const text = Buffer.from(result).toString("utf8");
  return /^-?\d+$/.test(text) ? BigInt(text) : JSON.parse(text);
}

export function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

export type Alg = "HS256" | "HS384" | "HS512" | "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "ES512" | "EdDSA";

export interface SignOptions {
  alg: Alg | string;
  key: KeyObject | string;
  header?: Record<string, unknown>;
  payload: Record<string, unknown> | string;
  /** PSS salt length override (default: digest length, as JWS requires). */
  pssSalt?: number;
}

/** Builds a compact JWS with node:crypto, as an independent signer. */
export function signJwt(o: SignOptions): string {
  const header = b64url(JSON.stringify({ alg: o.alg, typ: "JWT", ...o.header }));
  const payload = b64url(typeof o.payload === "string" ? o.payload : JSON.stringify(o.payload));
  const input = Buffer.from(`${header}.${payload}`);
  const hash = `sha${o.alg.slice(2)}`;
  let signature: Buffer;
  if (o.alg.startsWith("HS")) signature = createHmac(hash, o.key as string).update(input).digest();
  else if (o.alg.startsWith("RS")) signature = sign(hash, input, o.key as KeyObject);
  else if (o.alg.startsWith("PS")) {
    signature = sign(hash, input, { key: o.key as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: o.pssSalt ?? constants.RSA_PSS_SALTLEN_DIGEST });
  } else if (o.alg.startsWith("ES")) signature = sign(hash, input, { key: o.key as KeyObject, dsaEncoding: "ieee-p1363" });
  else if (o.alg === "EdDSA") signature = sign(null, input, o.key as KeyObject);
  else signature = Buffer.alloc(0);
  return `${header}.${payload}.${b64url(signature)}`;
}

export interface TestKeys {
  rsa: { privateKey: KeyObject; publicKey: KeyObject };
  rsaOther: { privateKey: KeyObject; publicKey: KeyObject };
  ec256: { privateKey: KeyObject; publicKey: KeyObject };
  ec384: { privateKey: KeyObject; publicKey: KeyObject };
  ec521: { privateKey: KeyObject; publicKey: KeyObject };
  ed25519: { privateKey: KeyObject; publicKey: KeyObject };
}

export function generateTestKeys(): TestKeys {
  return {
    rsa: generateKeyPairSync("rsa", { modulusLength: 2048 }),
    rsaOther: generateKeyPairSync("rsa", { modulusLength: 2048 }),
    ec256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
    ec384: generateKeyPairSync("ec", { namedCurve: "P-384" }),
    ec521: generateKeyPairSync("ec", { namedCurve: "P-521" }),
    ed25519: generateKeyPairSync("ed25519"),
  };
}

export function publicPem(key: KeyObject): string {
  return key.export({ type: "spki", format: "pem" }).toString();
}

/** A self-signed X.509 certificate for the private key, made by the openssl CLI. */
export function selfSignedCertificate(privateKey: KeyObject): string {
  const dir = tempDir("tollgate-cert-");
  const keyFile = path.join(dir, "key.pem");
  writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }));
  const certFile = path.join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-new", "-key", keyFile, "-subj", "/CN=tollgate-test", "-days", "2", "-out", certFile], { stdio: "pipe" });
  return readFileSync(certFile, "utf8");
}

export function publicJwk(key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...key.export({ format: "jwk" }), ...extra };
}
