import { createPublicKey, X509Certificate, type KeyObject, type webcrypto } from "node:crypto";
import { LruCache } from "./lru.js";
import { builtinError, isObject, type JsonValue } from "./operands.js";

/** JWS algorithms OPA knows; JWKS entries declaring any other alg are skipped, as OPA does. */
export const TOKEN_ALGORITHMS: ReadonlySet<string> = new Set([
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
  "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "EdDSA",
]);

/** A key from a `cert` argument: an asymmetric public key, or raw bytes for a JWKS "oct" key. */
export interface VerificationKey {
  alg: string;
  kid: string;
  key: KeyObject | Buffer;
  /** A private JWK: decode_verify uses its public half, the io.jwt.verify_* built-ins reject it (Go type checks). */
  private: boolean;
}

export interface ParsedKeys {
  /** Identifies this key material in other caches without holding the (possibly large) source string. */
  id: number;
  keys: readonly VerificationKey[];
}

/** Key types Go's x509 and jwx parse; Node also reads e.g. secp256k1 or Ed448, which OPA rejects. */
const EC_CURVES: ReadonlySet<string> = new Set(["secp224r1", "prime256v1", "secp384r1", "secp521r1"]);
const KEY_TYPES: ReadonlySet<string> = new Set(["rsa", "ec", "ed25519", "x25519", "dsa"]);

function supported(key: KeyObject): KeyObject {
  const type = key.asymmetricKeyType ?? "";
  if (!KEY_TYPES.has(type)) throw new Error(`unsupported public key type ${type}`);
  if (type === "ec" && !EC_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? "")) {
    throw new Error(`unsupported elliptic curve ${key.asymmetricKeyDetails?.namedCurve ?? ""}`);
  }
  return key;
}

const PEM_BLOCK = /(?:^|\n)-----BEGIN ([^\n]*?)-----[ \t]*\r?\n([\s\S]*?)-----END \1-----[ \t]*(?:\r?\n|$)/;
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parsePem(name: string, text: string): VerificationKey[] | undefined {
  const match = PEM_BLOCK.exec(text);
  if (!match) return undefined;
  const [block, type, body] = match as unknown as [string, string, string];
  if (text.length > match.index + block.length) throw builtinError(name, "extra data after a PEM certificate block");
  const base64 = body.replace(/[ \t\r\n]/g, "");
  if (!STD_BASE64.test(base64)) throw builtinError(name, "failed to decode the PEM block");
  const der = Buffer.from(base64, "base64");
  try {
    if (type === "CERTIFICATE") return [{ alg: "", kid: "", key: supported(new X509Certificate(der).publicKey), private: false }];
    if (type === "PUBLIC KEY") return [{ alg: "", kid: "", key: supported(createPublicKey({ key: der, format: "der", type: "spki" })), private: false }];
  } catch (err) {
    const what = type === "CERTIFICATE" ? "certificate" : "public key";
    throw builtinError(name, `failed to parse a PEM ${what}: ${(err as Error).message}`, err);
  }
  throw builtinError(name, "failed to extract a Key from the PEM certificate");
}

function stringField(jwk: Record<string, JsonValue>, field: string): string {
  const value = jwk[field];
  return typeof value === "string" ? value : "";
}

/** Every "alg" name OPA's JWK library (jwx) registers; any other value fails the whole key set. */
const JWA_ALGORITHMS: ReadonlySet<string> = new Set([
  ...TOKEN_ALGORITHMS, "ES256K", "Ed25519", "none",
  "A128GCMKW", "A128KW", "A192GCMKW", "A192KW", "A256GCMKW", "A256KW", "dir", "ECDH-ES", "ECDH-ES+A128KW",
  "ECDH-ES+A192KW", "ECDH-ES+A256KW", "PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW",
  "RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512",
  "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM",
]);

const STRING_MEMBERS = ["kid", "use", "x5t", "x5t#S256", "x5u"] as const;
const BINARY_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ["n", "e", "d", "p", "q", "dp", "dq", "qi"], EC: ["x", "y", "d"], OKP: ["x", "d"], oct: ["k"],
};

/**
 * jwx's base64 decoder: the alphabet (URL or standard) and padding are guessed from the text,
 * then decoded strictly (CR/LF skipped). Node's decoders would silently drop bad characters.
 */
function jwxBase64(member: string, value: JsonValue | undefined): Buffer {
  if (typeof value !== "string") throw new Error(`${member} must be a base64 string`);
  const text = value.replace(/[\r\n]/g, "");
  const alphabet = /[+/]/.test(text) ? /^[A-Za-z0-9+/]*$/ : /^[A-Za-z0-9_-]*$/;
  const body = text.replace(/={1,2}$/, "");
  const valid = alphabet.test(body) && (text === body ? body.length % 4 !== 1 : text.length % 4 === 0);
  if (!valid) throw new Error(`failed to decode ${member}: illegal base64 data`);
  return Buffer.from(body, "base64");
}

/** Member checks jwx makes while parsing, so a set OPA rejects is rejected here too. */
function checkJwkMembers(jwk: Record<string, JsonValue>, kty: string): Record<string, JsonValue> {
  for (const member of STRING_MEMBERS) {
    if (jwk[member] !== undefined && typeof jwk[member] !== "string") throw new Error(`${member} must be a string`);
  }
  const alg = jwk["alg"];
  if (alg !== undefined && (typeof alg !== "string" || !JWA_ALGORITHMS.has(alg))) throw new Error(`invalid algorithm ${JSON.stringify(alg)}`);
  const ops = jwk["key_ops"];
  if (ops !== undefined && !(Array.isArray(ops) && ops.every((op) => typeof op === "string"))) throw new Error("key_ops must be a list of strings");
  const chain = jwk["x5c"];
  if (chain !== undefined) {
    if (!Array.isArray(chain)) throw new Error("x5c must be a list");
    for (const entry of chain) {
      if (typeof entry !== "string") throw new Error("x5c entries must be strings");
      new X509Certificate(Buffer.from(jwxBase64("x5c", entry.replace(/\s/g, ""))));
    }
  }
  // Hand Node canonical base64url, and treat an empty value as a missing one, as jwx does.
  const normalised: Record<string, JsonValue> = { ...jwk };
  for (const member of BINARY_MEMBERS[kty] ?? []) {
    if (jwk[member] === undefined) continue;
    const bytes = jwxBase64(member, jwk[member]);
    if (bytes.length === 0) throw new Error(`required field ${member} is empty`);
    normalised[member] = bytes.toString("base64url");
  }
  return normalised;
}

function parseJwk(name: string, jwk: JsonValue): VerificationKey | undefined {
  if (!isObject(jwk)) throw builtinError(name, "failed to parse a JWK key (set): key must be an object");
  const kty = jwk["kty"];
  try {
    jwk = checkJwkMembers(jwk, typeof kty === "string" ? kty : "");
  } catch (err) {
    throw builtinError(name, `failed to parse a JWK key (set): ${(err as Error).message}`, err);
  }
  const alg = stringField(jwk, "alg");
  if (alg !== "" && !TOKEN_ALGORITHMS.has(alg)) return undefined;
  const kid = stringField(jwk, "kid");
  try {
    if (kty === "oct") {
      const k = jwk["k"];
      if (typeof k !== "string") throw new Error(`required field "k" is missing`);
      return { alg, kid, key: Buffer.from(k, "base64url"), private: false };
    }
    if (kty === "RSA" || kty === "EC" || kty === "OKP") {
      const key = supported(createPublicKey({ key: jwk as webcrypto.JsonWebKey, format: "jwk" }));
      return { alg, kid, key, private: jwk["d"] !== undefined };
    }
    throw new Error(`invalid key type ${JSON.stringify(kty ?? null)}`);
  } catch (err) {
    throw builtinError(name, `failed to parse a JWK key (set): ${(err as Error).message}`, err);
  }
}

function parseJwks(name: string, text: string): VerificationKey[] {
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw builtinError(name, `failed to parse a JWK key (set): ${(err as Error).message}`, err);
  }
  if (!isObject(parsed)) throw builtinError(name, "failed to parse a JWK key (set): not a JSON object");
  const set = parsed["keys"];
  if (set === undefined) return [parseJwk(name, parsed)].filter((k): k is VerificationKey => k !== undefined);
  if (!Array.isArray(set)) throw builtinError(name, `failed to parse a JWK key (set): "keys" must be an array`);
  return set.map((jwk) => parseJwk(name, jwk)).filter((k): k is VerificationKey => k !== undefined);
}

type CacheEntry = ParsedKeys | { error: Error };

/**
 * Parses `cert` arguments like OPA: one PEM certificate or PEM public key (nothing after it),
 * otherwise a JWK or JWK Set. Results, failures included, are cached per string because
 * policies verify many tokens against the same few key sets.
 */
export class KeyStore {
  private readonly cache: LruCache<string, CacheEntry>;
  private nextId = 1;

  constructor(maxEntries: number) {
    this.cache = new LruCache(maxEntries);
  }

  parse(name: string, certificate: string): ParsedKeys {
    let entry = this.cache.get(certificate);
    if (entry === undefined) {
      try {
        const keys = parsePem(name, certificate) ?? parseJwks(name, certificate);
        entry = { id: this.nextId++, keys };
      } catch (err) {
        entry = { error: err as Error };
      }
      this.cache.set(certificate, entry);
    }
    if ("error" in entry) throw entry.error;
    return entry;
  }
}
