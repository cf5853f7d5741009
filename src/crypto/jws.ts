import { constants, createHmac, verify, type KeyObject } from "node:crypto";
import { constantTimeEqual } from "./constant-time.js";

type HashName = "sha256" | "sha384" | "sha512";

/** JWS algorithms OPA knows; JWKS entries declaring any other alg are skipped, as OPA does. */
export const TOKEN_ALGORITHMS: ReadonlySet<string> = new Set([
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
  "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "EdDSA",
]);

/** Checks one signature over the JWS signing input with one key; never throws. */
export type SignatureCheck = (key: KeyObject | Buffer, signingInput: Buffer, signature: Buffer) => boolean;

const CURVE_BYTES: Readonly<Record<string, number>> = { secp224r1: 28, prime256v1: 32, secp384r1: 48, secp521r1: 66 };

function asymmetric(key: KeyObject | Buffer, type: string): KeyObject | undefined {
  return !Buffer.isBuffer(key) && key.asymmetricKeyType === type ? key : undefined;
}

function safely(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

const usableRsaKeys = new WeakMap<KeyObject, boolean>();

/**
 * Go's crypto/rsa, which OPA verifies with, refuses keys under 1024 bits, an even modulus and
 * a public exponent that is even, below 2 or above 2^31-1. OpenSSL would verify with them,
 * and with e = 1 anyone can forge a signature.
 */
function goAcceptsRsaKey(key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails;
  const bits = details?.modulusLength ?? 0;
  const e = details?.publicExponent ?? 0n;
  if (bits < 1024 || e < 2n || e % 2n === 0n || e > 0x7fffffffn) return false;
  const n = Buffer.from(String(key.export({ format: "jwk" }).n ?? ""), "base64url");
  return n.length > 0 && ((n[n.length - 1] as number) & 1) === 1;
}

function rsaKey(key: KeyObject | Buffer): KeyObject | undefined {
  const rsa = asymmetric(key, "rsa");
  if (rsa === undefined) return undefined;
  let usable = usableRsaKeys.get(rsa);
  if (usable === undefined) {
    usable = goAcceptsRsaKey(rsa);
    usableRsaKeys.set(rsa, usable);
  }
  return usable ? rsa : undefined;
}

function rsaPkcs1(hash: HashName): SignatureCheck {
  return (key, input, signature) => {
    const rsa = rsaKey(key);
    return rsa !== undefined && safely(() => verify(hash, input, { key: rsa, padding: constants.RSA_PKCS1_PADDING }, signature));
  };
}

function rsaPss(hash: HashName, saltLength: number): SignatureCheck {
  return (key, input, signature) => {
    const rsa = rsaKey(key);
    return rsa !== undefined && safely(() => verify(hash, input, { key: rsa, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature));
  };
}

function derInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  let body = bytes.subarray(start);
  if (body.length === 0 || (body[0] as number) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}

/**
 * The io.jwt.verify_es* built-ins split the signature in half into r and s, whatever its
 * length (Go's big.Int.SetBytes), so the halves are re-encoded as DER rather than handed to
 * Node's fixed-length IEEE P1363 decoder.
 */
function ecdsaHalves(hash: HashName): SignatureCheck {
  return (key, input, signature) => {
    const ec = asymmetric(key, "ec");
    if (ec === undefined || CURVE_BYTES[ec.asymmetricKeyDetails?.namedCurve ?? ""] === undefined) return false;
    const half = Math.floor(signature.length / 2);
    const sequence = Buffer.concat([derInteger(signature.subarray(0, half)), derInteger(signature.subarray(half))]);
    const der = Buffer.concat([Buffer.from([0x30]), derLength(sequence.length), sequence]);
    return safely(() => verify(hash, input, { key: ec, dsaEncoding: "der" }, der));
  };
}

/** JWS (RFC 7518 3.4): r||s, each exactly the curve's byte size. */
function ecdsaJws(hash: HashName): SignatureCheck {
  return (key, input, signature) => {
    const ec = asymmetric(key, "ec");
    const size = ec === undefined ? undefined : CURVE_BYTES[ec.asymmetricKeyDetails?.namedCurve ?? ""];
    if (ec === undefined || size === undefined || signature.length !== 2 * size) return false;
    return safely(() => verify(hash, input, { key: ec, dsaEncoding: "ieee-p1363" }, signature));
  };
}

const ed25519: SignatureCheck = (key, input, signature) => {
  const ed = asymmetric(key, "ed25519");
  return ed !== undefined && safely(() => verify(null, input, ed, signature));
};

function hmac(hash: HashName): SignatureCheck {
  return (key, input, signature) => Buffer.isBuffer(key) && constantTimeEqual(createHmac(hash, key).update(input).digest(), signature);
}

const HASHES: Readonly<Record<string, HashName>> = { "256": "sha256", "384": "sha384", "512": "sha512" };

function hashOf(alg: string): HashName {
  return HASHES[alg.slice(2)] as HashName;
}

/**
 * Signature checks for a JWS alg: RS/PS/ES/HS 256/384/512, EdDSA and Ed25519 (RFC 9864's
 * fully-specified name). PSS salt must equal the digest length and ES signatures must have
 * the key curve's exact length, as in the JWS library OPA uses.
 */
export function jwsCheckFor(alg: string): SignatureCheck | undefined {
  if (!/^(?:[RPEH]S(?:256|384|512)|EdDSA|Ed25519)$/.test(alg)) return undefined;
  if (alg === "EdDSA" || alg === "Ed25519") return ed25519;
  const hash = hashOf(alg);
  switch (alg[0]) {
    case "R":
      return rsaPkcs1(hash);
    case "P":
      return rsaPss(hash, constants.RSA_PSS_SALTLEN_DIGEST);
    case "E":
      return ecdsaJws(hash);
    default:
      return hmac(hash);
  }
}

/**
 * When a header alg is no JWS name, OPA's JWS library looks it up as a name of its signature
 * library (dsig), so these aliases verify exactly like the JWS algorithm they stand for.
 * ("EDDSA" is one too, but its curve check rejects every key.)
 */
const DSIG_ALIASES: Readonly<Record<string, string>> = {
  HMAC_WITH_SHA256: "HS256", HMAC_WITH_SHA384: "HS384", HMAC_WITH_SHA512: "HS512",
  RSA_PKCS1v15_WITH_SHA256: "RS256", RSA_PKCS1v15_WITH_SHA384: "RS384", RSA_PKCS1v15_WITH_SHA512: "RS512",
  RSA_PSS_WITH_SHA256: "PS256", RSA_PSS_WITH_SHA384: "PS384", RSA_PSS_WITH_SHA512: "PS512",
  ECDSA_WITH_P256_AND_SHA256: "ES256", ECDSA_WITH_P384_AND_SHA384: "ES384", ECDSA_WITH_P521_AND_SHA512: "ES512",
};

/** The check io.jwt.decode_verify applies for a token's alg header (JWS names and OPA's aliases). */
export function headerCheckFor(alg: string): SignatureCheck | undefined {
  return jwsCheckFor(Object.hasOwn(DSIG_ALIASES, alg) ? (DSIG_ALIASES[alg] as string) : alg);
}

/**
 * Signature checks of the io.jwt.verify_<alg> built-ins: fixed by the built-in, not by the
 * header. PSS accepts any salt length (Go's rsa.VerifyPSS with nil options).
 */
export function builtinCheckFor(alg: string): SignatureCheck {
  if (alg === "EdDSA") return ed25519;
  const hash = hashOf(alg);
  switch (alg[0]) {
    case "R":
      return rsaPkcs1(hash);
    case "P":
      return rsaPss(hash, constants.RSA_PSS_SALTLEN_AUTO);
    case "E":
      return ecdsaHalves(hash);
    default:
      return hmac(hash);
  }
}
