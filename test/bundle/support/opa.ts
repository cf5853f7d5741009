import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../../src/observability/logger.js";
import { capabilitiesFile } from "../../../src/paths.js";
import { findOpa } from "../../../src/policy/opa-cli.js";

export function tempDir(prefix = "tg-bundle-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeTree(files: Record<string, string>, dir = tempDir("tg-pol-")): string {
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(dir, name);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
  return dir;
}

/** allow is true for the user named in data.users.admin (data at a nested path, merged by the loader). */
export const POLICY = {
  "envoy/authz.rego": 'package envoy.authz\n\ndefault allow := false\n\nallow if input.user == data.users.admin\n',
  "users/data.json": '{"admin": "alice"}',
};

export interface KeyPair {
  privateFile: string;
  publicFile: string;
  publicPem: string;
}

function writePair(dir: string, name: string, privateKey: KeyObject, publicKey: KeyObject): KeyPair {
  const privateFile = path.join(dir, `${name}.key.pem`);
  const publicFile = path.join(dir, `${name}.pub.pem`);
  writeFileSync(privateFile, privateKey.export({ type: "pkcs8", format: "pem" }) as string);
  const publicPem = publicKey.export({ type: "spki", format: "pem" }) as string;
  writeFileSync(publicFile, publicPem);
  return { privateFile, publicFile, publicPem };
}

export function rsaKeys(dir: string, name = "rsa"): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return writePair(dir, name, privateKey, publicKey);
}

export function ecKeys(dir: string, curve: string, name = curve): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
  return writePair(dir, name, privateKey, publicKey);
}

export function ed25519Keys(dir: string): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return writePair(dir, "ed25519", privateKey, publicKey);
}

/** For HS*: the same file signs and verifies. */
export function hmacSecret(dir: string): KeyPair {
  const file = path.join(dir, "hmac.secret");
  const secret = randomBytes(32).toString("hex");
  writeFileSync(file, secret);
  return { privateFile: file, publicFile: file, publicPem: secret };
}

export interface OpaBuildOptions {
  revision?: string;
  signingKey?: string;
  alg?: string;
  keyId?: string;
  /** Goes into a claims file, as `opa build` needs for a scope. */
  claims?: Record<string, unknown>;
  entrypoints?: string[];
}

/** The real `opa build -t wasm -b` (signed when asked), straight from the CLI. */
export function opaBuild(dir: string, options: OpaBuildOptions = {}): Buffer {
  const out = path.join(tempDir("tg-out-"), "bundle.tar.gz");
  const args = ["build", "-t", "wasm", "-b", ".", "--capabilities", capabilitiesFile, "-o", out];
  for (const e of options.entrypoints ?? ["envoy/authz/allow"]) args.push("-e", e);
  if (options.revision) args.push("--revision", options.revision);
  if (options.signingKey) {
    args.push("--signing-key", options.signingKey, "--signing-alg", options.alg ?? "RS256");
    if (options.keyId) args.push("--verification-key-id", options.keyId);
    if (options.claims) {
      const claims = path.join(path.dirname(out), "claims.json");
      writeFileSync(claims, JSON.stringify(options.claims));
      args.push("--claims-file", claims);
    }
  }
  execFileSync(findOpa(), args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  return readFileSync(out);
}

/** Captures log lines as parsed objects. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  }
  events(name: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l["event"] === name);
  }
}

export function testLogger(): { logger: Logger; sink: LogSink } {
  const sink = new LogSink();
  return { logger: createLogger({ level: "debug", destination: sink }), sink };
}

export { waitFor } from "../../support/wait.js";
