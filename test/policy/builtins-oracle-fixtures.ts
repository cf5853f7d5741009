import { execFileSync } from "node:child_process";
import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** One call of a built-in with JSON arguments, run both by tollgate's host and by `opa eval`. */
export interface OracleCase {
  title: string;
  builtin: string;
  args: unknown[];
  /** OPA v1.22.3 itself panics (crashes `opa eval`) on this input; tollgate must answer undefined instead. */
  opaPanics?: true;
}

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

export function selfSignedCert(privateKey: KeyObject): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-cert-"));
  try {
    const keyFile = path.join(dir, "key.pem");
    const certFile = path.join(dir, "cert.pem");
    execFileSync("sh", ["-c", 'cat > "$1"', "sh", keyFile], { input: privateKey.export({ format: "pem", type: "pkcs8" }) });
    execFileSync("openssl", ["req", "-x509", "-key", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=tollgate-test"], { stdio: "pipe" });
    return readFileSync(certFile, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const b64 = (data: string | Buffer): string => Buffer.from(data).toString("base64url");
export const pem = (key: KeyObject): string => key.export({ format: "pem", type: "spki" }) as string;
const HASH: Record<string, string> = { "256": "sha256", "384": "sha384", "512": "sha512" };

interface TokenSpec {
  alg: string;
  key: KeyObject | string;
  header?: Record<string, unknown> | string;
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

/** A compact JWS; header/payload given as strings are used verbatim (for malformed JSON). */
export function token(spec: TokenSpec): string {
  const header = typeof spec.header === "string" ? spec.header : JSON.stringify(spec.header ?? { alg: spec.alg, typ: "JWT" });
  const payload = typeof spec.payload === "string" ? spec.payload : JSON.stringify(spec.payload ?? { sub: "alice" });
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${b64(signature(spec, Buffer.from(input)))}`;
}

export function tamper(jws: string): string {
  const [h, p, s] = jws.split(".") as [string, string, string];
  const sig = Buffer.from(s, "base64url");
  sig[sig.length - 1] = (sig[sig.length - 1] as number) ^ 1;
  return `${h}.${p}.${b64(sig)}`;
}

export function jwk(key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...key.export({ format: "jwk" }), ...extra };
}

export const jwks = (...keys: Record<string, unknown>[]): string => JSON.stringify({ keys });

export const T0 = 1_700_000_000; // seconds; the `time` constraint below is T0 in ns
export const AT_T0 = T0 * 1e9;

/** A case collector: `add(title, builtin, ...args)`. */
export function caseList(): { cases: OracleCase[]; add: (title: string, builtin: string, ...args: unknown[]) => void } {
  const cases: OracleCase[] = [];
  return { cases, add: (title, builtin, ...args) => void cases.push({ title, builtin, args }) };
}

/** Tokens and key strings several case groups share. */
export interface Shared {
  /** An RS256 token over `payload`, signed with keys.rsa. */
  rs: (payload: Record<string, unknown>, header?: Record<string, unknown>) => string;
  rsToken: string;
  rsCert: string;
  jwkRsa: Record<string, unknown>;
  /** decode_verify constraints: keys.rsa's PEM, a time in ns, plus extra constraints. */
  at: (time: number, extra?: Record<string, unknown>) => Record<string, unknown>;
  /** An HS256 token (secret "s") with verbatim header and payload JSON text. */
  hs: (header: string, payload: string) => string;
  /** An ES256 token (keys.p256), its encoded header and payload, and its raw r||s signature. */
  es: string;
  eh: string;
  ep: string;
  rawSig: Buffer;
}

export function shared(k: Keys): Shared {
  const rs = (payload: Record<string, unknown>, header?: Record<string, unknown>) =>
    token({ alg: "RS256", key: k.rsa.privateKey, payload, ...(header ? { header } : {}) });
  const rsCert = pem(k.rsa.publicKey);
  const es = token({ alg: "ES256", key: k.p256.privateKey });
  const [eh, ep, esig] = es.split(".") as [string, string, string];
  return {
    rs, rsCert, es, eh, ep,
    rsToken: rs({ sub: "carol" }),
    jwkRsa: jwk(k.rsa.publicKey),
    at: (time, extra = {}) => ({ cert: rsCert, time, ...extra }),
    hs: (header, payload) => token({ alg: "HS256", key: "s", header, payload }),
    rawSig: Buffer.from(esig, "base64url"),
  };
}
