import { execFileSync, spawnSync } from "node:child_process";
import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { findOpa } from "../../src/policy/opa-cli.js";

// The SDK's ES module entry only names loadPolicy; its CommonJS entry has loadPolicySync too.
const sdk = createRequire(import.meta.url)("@open-policy-agent/opa-wasm") as typeof import("@open-policy-agent/opa-wasm");
export const loadPolicySync = sdk.loadPolicySync;

export const repoRoot = path.resolve(import.meta.dirname, "..", "..");
export const capabilitiesFile = path.join(repoRoot, "src", "policy", "capabilities.json");

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runOpa(args: string[], cwd?: string): RunResult {
  const r = spawnSync(findOpa(), args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
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
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    const out = path.join(dir, "bundle.tar.gz");
    const r = runOpa(["build", "-t", "wasm", ...entrypoints.flatMap((e) => ["-e", e]), "--capabilities", capabilitiesFile, "-o", out, ...Object.keys(files)], dir);
    if (r.status !== 0) return { failed: r };
    return { wasm: readTarGzEntry(out, "policy.wasm") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Decodes what a host built-in hands opa-wasm: plain values, or JSON text in an ArrayBuffer (exact integers as bigint). */
export function wireValue(result: unknown): unknown {
  if (!(result instanceof ArrayBuffer)) return result;
  const text = Buffer.from(result).toString("utf8");
  return /^-?\d+$/.test(text) ? BigInt(text) : JSON.parse(text);
}

/** A host built-in's answer as JSON text (exact integers kept), undefined when it failed. */
export function wireJson(result: unknown): string | undefined {
  if (result === undefined) return undefined;
  if (result instanceof ArrayBuffer) return Buffer.from(result).toString("utf8");
  return JSON.stringify(result);
}

export const b64 = (data: string | Buffer): string => Buffer.from(data).toString("base64url");
export const pem = (key: KeyObject): string => key.export({ format: "pem", type: "spki" }) as string;

export function jwk(key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...key.export({ format: "jwk" }), ...extra };
}

export const jwks = (...keys: Record<string, unknown>[]): string => JSON.stringify({ keys });

interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export interface Keys {
  rsa: KeyPair;
  rsaOther: KeyPair;
  p256: KeyPair;
  p256Other: KeyPair;
  p384: KeyPair;
  p521: KeyPair;
  ed: KeyPair;
  edOther: KeyPair;
  /** A self-signed X.509 certificate (PEM) for `rsa`, made by the openssl CLI. */
  rsaCertPem: string;
}

export function generateKeys(): Keys {
  const rsa = () => generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve });
  const keys = {
    rsa: rsa(), rsaOther: rsa(), p256: ec("P-256"), p256Other: ec("P-256"), p384: ec("P-384"), p521: ec("P-521"),
    ed: generateKeyPairSync("ed25519"), edOther: generateKeyPairSync("ed25519"),
  };
  return { ...keys, rsaCertPem: selfSignedCert(keys.rsa.privateKey) };
}

/** A self-signed X.509 certificate (PEM) for the private key, made by the openssl CLI. */
export function selfSignedCert(privateKey: KeyObject): string {
  const dir = tempDir("tollgate-cert-");
  try {
    const keyFile = path.join(dir, "key.pem");
    const certFile = path.join(dir, "cert.pem");
    writeFileSync(keyFile, privateKey.export({ format: "pem", type: "pkcs8" }));
    execFileSync("openssl", ["req", "-x509", "-new", "-key", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=tollgate-test"], { stdio: "pipe" });
    return readFileSync(certFile, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HASH: Record<string, string> = { "256": "sha256", "384": "sha384", "512": "sha512" };

export interface TokenSpec {
  /** Picks the signature scheme (HS/RS/PS/ES 256–512, EdDSA); the header says what `header` says. */
  alg: string;
  /** A string is an HMAC secret. */
  key: KeyObject | string;
  /** Default {alg, typ: "JWT"}; a string is used verbatim (for malformed JSON). */
  header?: Record<string, unknown> | string;
  /** Default {sub: "alice"}; a string is used verbatim. */
  payload?: Record<string, unknown> | string;
  /** PSS salt length used when signing; JWS requires the digest length. */
  pssSalt?: number;
}

function signature(spec: TokenSpec, input: Buffer): Buffer {
  const { alg, key } = spec;
  const hash = HASH[alg.slice(2)] ?? "sha256";
  if (typeof key === "string") return createHmac(hash, key).update(input).digest();
  if (alg === "EdDSA") return sign(null, input, key);
  if (alg.startsWith("ES")) return sign(hash, input, { key, dsaEncoding: "ieee-p1363" });
  if (alg.startsWith("PS")) {
    return sign(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pssSalt ?? constants.RSA_PSS_SALTLEN_DIGEST });
  }
  return sign(hash, input, key);
}

/** A compact JWS signed with node:crypto, an implementation independent of the one under test. */
export function token(spec: TokenSpec): string {
  const header = typeof spec.header === "string" ? spec.header : JSON.stringify(spec.header ?? { alg: spec.alg, typ: "JWT" });
  const payload = typeof spec.payload === "string" ? spec.payload : JSON.stringify(spec.payload ?? { sub: "alice" });
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${b64(signature(spec, Buffer.from(input)))}`;
}

/** Like token(), with `header` merged into {alg, typ: "JWT"}. */
export function signJwt(spec: Omit<TokenSpec, "header"> & { header?: Record<string, unknown> }): string {
  return token({ ...spec, header: { alg: spec.alg, typ: "JWT", ...spec.header } });
}

/** The same token with the last signature bit flipped. */
export function tamper(jws: string): string {
  const [h, p, s] = jws.split(".") as [string, string, string];
  const sig = Buffer.from(s, "base64url");
  sig[sig.length - 1] = (sig[sig.length - 1] as number) ^ 1;
  return `${h}.${p}.${b64(sig)}`;
}
