import { createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { checkJwk } from "./jwk-members.js";
import { TOKEN_ALGORITHMS } from "../../../crypto/jws.js";
import { LruCache } from "./lru.js";
import { builtinError, isObject, type JsonValue } from "./operands.js";

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

/**
 * Key types Go's x509 and jwx parse; Node also reads e.g. secp256k1 or Ed448, which OPA rejects.
 * P-224 only ever comes from PEM (jwx has no such JWK curve); Go verifies ES tokens with it.
 */
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

/** OPA's JWK library refuses a key set with more keys than this. */
const MAX_JWKS_KEYS = 1000;

function parseJwk(name: string, jwk: JsonValue): VerificationKey | undefined {
  const checked = checkJwk(name, jwk);
  let key: KeyObject | Buffer = checked.octets;
  if (checked.kty !== "oct") {
    try {
      key = supported(createPublicKey({ key: checked.publicJwk, format: "jwk" }));
    } catch (err) {
      throw builtinError(name, `failed to parse a JWK key (set): ${(err as Error).message}`, err);
    }
  }
  // OPA converts every key first, then skips those whose alg is no JWS algorithm it knows.
  if (checked.alg !== "" && !TOKEN_ALGORITHMS.has(checked.alg)) return undefined;
  return { alg: checked.alg, kid: checked.kid, key, private: checked.private };
}

function parseJwks(name: string, text: string): VerificationKey[] {
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw builtinError(name, `failed to parse a JWK key (set): ${(err as Error).message}`, err);
  }
  const set = isObject(parsed) ? parsed["keys"] : undefined;
  if (set === undefined) return [parseJwk(name, parsed)].filter((k): k is VerificationKey => k !== undefined);
  if (!Array.isArray(set)) throw builtinError(name, `failed to parse a JWK key (set): "keys" must be an array`);
  if (set.length > MAX_JWKS_KEYS) throw builtinError(name, `failed to parse a JWK key (set): more than ${MAX_JWKS_KEYS} keys`);
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
  /**
   * The last cert string asked for and its entry: a policy passes the same key set on every call,
   * as a new string each time (decoded from the Wasm), and comparing it with the last one is
   * cheaper than hashing it for the LRU. The entry is the one the LRU gave for an equal string.
   */
  private last: { certificate: string; entry: CacheEntry } | undefined;

  constructor(maxEntries: number) {
    this.cache = new LruCache(maxEntries);
  }

  parse(name: string, certificate: string): ParsedKeys {
    if (this.last?.certificate === certificate) return KeyStore.unwrap(this.last.entry);
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
    // Only when the LRU keeps entries: a cache of size 0 parses every time.
    if (this.cache.size > 0) this.last = { certificate, entry };
    return KeyStore.unwrap(entry);
  }

  private static unwrap(entry: CacheEntry): ParsedKeys {
    if ("error" in entry) throw entry.error;
    return entry;
  }
}
