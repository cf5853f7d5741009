import { X509Certificate } from "node:crypto";
import { TOKEN_ALGORITHMS } from "../../../crypto/jws.js";
import { builtinError, isObject, type JsonObject, type JsonValue } from "./operands.js";

/** Every "alg" name OPA's JWK library (jwx v3) registers; any other value fails the whole key set. */
const JWA_ALGORITHMS: ReadonlySet<string> = new Set([
  ...TOKEN_ALGORITHMS, "ES256K", "Ed25519", "none",
  "A128GCMKW", "A128KW", "A192GCMKW", "A192KW", "A256GCMKW", "A256KW", "dir", "ECDH-ES", "ECDH-ES+A128KW",
  "ECDH-ES+A192KW", "ECDH-ES+A256KW", "PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW",
  "RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512",
  "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM",
]);

/** Members jwx decodes into Go strings: a JSON string, or null (which leaves the string empty). */
const STRING_MEMBERS = ["kid", "use", "x5t", "x5t#S256", "x5u"] as const;
const EC_KEY_BYTES: Readonly<Record<string, number>> = { "P-256": 32, "P-384": 48, "P-521": 66 };
const OKP_CURVES: ReadonlySet<string> = new Set(["Ed25519", "Ed448", "X25519", "X448"]);
const OKP_KEY_BYTES: Readonly<Record<string, number>> = { Ed25519: 32, X25519: 32 };
const X5C_MAX_CERTIFICATES = 10;
const X5C_MAX_DER_BYTES = 256 * 1024;

/** One JWK that passed jwx's checks, reduced to what verification needs. */
export interface CheckedJwk {
  kty: "RSA" | "EC" | "OKP" | "oct";
  /** "" when the JWK has no alg. */
  alg: string;
  kid: string;
  /** jwx made it a private key (a member named "d" in any letter case). */
  private: boolean;
  /** The public members only, canonical base64url, for node:crypto's JWK import; {} for "oct". */
  publicJwk: Record<string, string>;
  /** The "oct" secret; empty for the other key types. */
  octets: Buffer;
}

type Fail = (message: string) => never;

/**
 * jwx's base64 decoder: the alphabet (URL unless the text has '+' or '/') and padding (if the
 * text ends in '=') are guessed, then Go decodes strictly, skipping only CR and LF.
 */
function jwxBase64(fail: Fail, member: string, value: JsonValue | undefined): Buffer {
  if (value === null) return Buffer.alloc(0);
  if (typeof value !== "string") return fail(`${member}: expected a base64 string`);
  const alphabet = /[+/]/.test(value) ? "A-Za-z0-9+/" : "A-Za-z0-9_-";
  const text = value.replace(/[\r\n]/g, "");
  const valid = value.endsWith("=")
    ? new RegExp(`^(?:[${alphabet}]{4})*(?:[${alphabet}]{2}==|[${alphabet}]{3}=)$`).test(text)
    : new RegExp(`^[${alphabet}]*$`).test(text) && text.length % 4 !== 1;
  if (!valid) return fail(`${member}: illegal base64 data`);
  return Buffer.from(text.replace(/=+$/, ""), "base64");
}

function trimLeadingZeros(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

/** x5c: a list of standard, padded base64 DER certificates that Go's X.509 parser accepts. */
function checkCertificateChain(fail: Fail, chain: JsonValue): void {
  if (!Array.isArray(chain)) fail("x5c: expected a JSON array");
  if (chain.length > X5C_MAX_CERTIFICATES) fail(`x5c: more than ${X5C_MAX_CERTIFICATES} certificates`);
  for (const entry of chain) {
    if (entry !== null && typeof entry !== "string") fail("x5c: certificates must be strings");
    const text = (entry ?? "").replace(/[ \t\r\n\v\f]/g, "");
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) fail("x5c: illegal base64 data");
    const der = Buffer.from(text, "base64");
    if (der.length > X5C_MAX_DER_BYTES) fail("x5c: certificate too large");
    try {
      new X509Certificate(der);
    } catch {
      fail("x5c: failed to parse an X.509 certificate");
    }
  }
}

function checkCommonMembers(fail: Fail, jwk: JsonObject): void {
  for (const member of STRING_MEMBERS) {
    const value = jwk[member];
    if (value !== undefined && value !== null && typeof value !== "string") fail(`${member}: expected a string`);
  }
  const alg = jwk["alg"];
  if (alg !== undefined && (typeof alg !== "string" || !JWA_ALGORITHMS.has(alg))) fail(`invalid key algorithm ${JSON.stringify(alg)}`);
  const ops = jwk["key_ops"];
  if (ops !== undefined && ops !== null && !(Array.isArray(ops) && ops.every((op) => op === null || typeof op === "string"))) {
    fail("key_ops: expected a list of strings");
  }
  if (jwk["x5c"] !== undefined) checkCertificateChain(fail, jwk["x5c"]);
}

/**
 * jwx first probes "kty" and "d" with Go's case-insensitive JSON field matching (the last
 * matching member wins, null leaves kty unset); a "d" of any kind makes it a private key.
 */
function probe(fail: Fail, jwk: JsonObject): { kty: string; private: boolean } {
  let kty = "";
  let isPrivate = false;
  for (const [member, value] of Object.entries(jwk)) {
    const folded = member.toLowerCase();
    if (folded === "d") isPrivate = true;
    if (folded !== "kty" || value === null) continue;
    if (typeof value !== "string") fail("kty: expected a string");
    kty = value;
  }
  const exact = jwk["kty"];
  if (exact !== undefined && exact !== kty) fail(`invalid kty value ${JSON.stringify(exact)}`);
  return { kty, private: isPrivate };
}

function requireBytes(fail: Fail, jwk: JsonObject, member: string): Buffer {
  if (jwk[member] === undefined) fail(`required field ${member} is missing`);
  return jwxBase64(fail, member, jwk[member]);
}

function checkRsa(fail: Fail, jwk: JsonObject, isPrivate: boolean): Record<string, string> {
  const n = trimLeadingZeros(requireBytes(fail, jwk, "n"));
  const e = trimLeadingZeros(requireBytes(fail, jwk, "e"));
  if (n.length === 0) fail(`missing "n" value`);
  if (e.length === 0) fail(`missing "e" value`);
  // A Go int holds the exponent: positive, odd and under 2^63.
  if (((e[e.length - 1] as number) & 1) === 0) fail("invalid rsa public exponent: must be a positive odd integer");
  if (e.length > 8 || (e.length === 8 && (e[0] as number) >= 0x80)) fail("rsa public exponent too large");
  if (isPrivate) {
    if (jwk["d"] === undefined || requireBytes(fail, jwk, "d").length === 0) fail(`missing "d" value`);
    requireBytes(fail, jwk, "p");
    requireBytes(fail, jwk, "q");
    for (const member of ["dp", "dq", "qi"]) if (jwk[member] !== undefined) jwxBase64(fail, member, jwk[member]);
  }
  return { kty: "RSA", n: n.toString("base64url"), e: e.toString("base64url") };
}

function curveName(fail: Fail, jwk: JsonObject): string {
  const crv = jwk["crv"];
  if (crv === undefined) fail("required field crv is missing");
  if (typeof crv !== "string") fail("crv: expected a string");
  return crv;
}

function checkEc(fail: Fail, jwk: JsonObject, isPrivate: boolean): Record<string, string> {
  const crv = curveName(fail, jwk);
  const size = EC_KEY_BYTES[crv];
  if (size === undefined) fail(`unsupported elliptic curve ${JSON.stringify(crv)}`);
  const x = requireBytes(fail, jwk, "x");
  const y = requireBytes(fail, jwk, "y");
  if (x.length !== size || y.length !== size) fail(`invalid point length for curve ${crv}`);
  if (isPrivate && (jwk["d"] === undefined || requireBytes(fail, jwk, "d").length !== size)) fail(`invalid "d" length for curve ${crv}`);
  return { kty: "EC", crv, x: x.toString("base64url"), y: y.toString("base64url") };
}

function checkOkp(fail: Fail, jwk: JsonObject, isPrivate: boolean): Record<string, string> {
  const crv = curveName(fail, jwk);
  if (!OKP_CURVES.has(crv)) fail(`unsupported OKP curve ${JSON.stringify(crv)}`);
  const size = OKP_KEY_BYTES[crv];
  const x = requireBytes(fail, jwk, "x");
  if (x.length === 0 || (size !== undefined && x.length !== size)) fail(`wrong public key size for ${crv}`);
  if (isPrivate) {
    const d = jwk["d"] === undefined ? Buffer.alloc(0) : requireBytes(fail, jwk, "d");
    if (d.length === 0 || (size !== undefined && d.length !== size)) fail(`wrong private key size for ${crv}`);
  }
  return { kty: "OKP", crv, x: x.toString("base64url") };
}

/**
 * Checks one JWK the way OPA's JWK library parses it, so a key (and with it the whole set)
 * that OPA refuses is refused here too; node:crypto alone is more lenient.
 */
export function checkJwk(name: string, jwk: JsonValue | undefined): CheckedJwk {
  const fail: Fail = (message) => {
    throw builtinError(name, `failed to parse a JWK key (set): ${message}`);
  };
  if (!isObject(jwk)) return fail("a key must be a JSON object");
  const probed = probe(fail, jwk);
  checkCommonMembers(fail, jwk);
  const alg = typeof jwk["alg"] === "string" ? jwk["alg"] : "";
  const kid = typeof jwk["kid"] === "string" ? jwk["kid"] : "";
  const base = { alg, kid, private: probed.private, publicJwk: {}, octets: Buffer.alloc(0) };
  switch (probed.kty) {
    case "RSA":
      return { ...base, kty: "RSA", publicJwk: checkRsa(fail, jwk, probed.private) };
    case "EC":
      return { ...base, kty: "EC", publicJwk: checkEc(fail, jwk, probed.private) };
    case "OKP":
      return { ...base, kty: "OKP", publicJwk: checkOkp(fail, jwk, probed.private) };
    case "oct": {
      const octets = requireBytes(fail, jwk, "k");
      if (octets.length === 0) fail(`missing "k" field`);
      return { ...base, kty: "oct", private: false, octets };
    }
    default:
      return fail(`invalid key type ${JSON.stringify(probed.kty)}`);
  }
}
