import { builtinCheckFor, headerCheckFor } from "../../../crypto/jws.js";
import type { KeyStore, VerificationKey } from "./jwk.js";
import {
  decodeHeader, decodePayloadText, decodeSignature, headerIsValid, parseJsonObject, parseTokenHeader,
  signingInput, splitToken,
} from "./jwt-token.js";
import { LruCache } from "./lru.js";
import { builtinError, isObject, stringOperand, type BuiltinImpl, type JsonObject, type JsonValue } from "./operands.js";

export interface JwtOptions {
  keys: KeyStore;
  /** Verified-signature results kept per (token, key material); bounded. */
  tokenCacheSize: number;
  /** The evaluation's pinned time.now_ns, used when decode_verify gets no `time`. */
  nowNs: () => bigint;
}

/** A signature outcome, which never depends on time; claims are re-checked on every call. */
type CachedVerification = { valid: false } | { valid: true; header: JsonObject; payload: JsonObject };

const unverified = (): [false, JsonObject, JsonObject] => [false, {}, {}];

function decode(token: JsonValue): [JsonObject, JsonObject, string] {
  const name = "io.jwt.decode";
  const parts = splitToken(name, token);
  const header = decodeHeader(name, parts);
  const payloadText = decodePayloadText(name, parts);
  const cty = header["cty"];
  if (cty !== undefined) {
    if (typeof cty !== "string") throw builtinError(name, "cty: must be a string");
    // A nested JWT; jwt.io-style encoders quote it, so quotes are trimmed before recursing.
    if (cty === "JWT") return decode(payloadText.replace(/^["']+|["']+$/g, ""));
  }
  const payload = parseJsonObject(name, payloadText);
  return [header, payload, decodeSignature(name, parts).toString("hex")];
}

/** Tries the key whose kid matches the header's, else every key whose alg (if any) matches. */
function verifyWithKeys(keys: readonly VerificationKey[], kid: string, alg: string, check: (key: VerificationKey) => boolean): boolean {
  if (kid !== "") {
    const byKid = keys.find((k) => k.kid === kid);
    if (byKid) return check(byKid);
  }
  return keys.some((k) => (k.alg === "" || k.alg === alg) && check(k));
}

interface Constraints {
  keys: readonly VerificationKey[] | undefined;
  material: string;
  secret: string;
  alg: string;
  iss: string;
  aud: string;
  timeNs: number;
}

function parseConstraints(name: string, value: JsonValue | undefined, options: JwtOptions): Constraints {
  if (!isObject(value)) throw builtinError(name, "operand 2 must be object");
  const c: Constraints = { keys: undefined, material: "", secret: "", alg: "", iss: "", aud: "", timeNs: -1 };
  for (const [key, v] of Object.entries(value)) {
    switch (key) {
      case "cert": {
        if (typeof v !== "string") throw builtinError(name, "cert constraint: must be a string");
        const parsed = options.keys.parse(name, v);
        c.keys = parsed.keys;
        c.material = `c${parsed.id}`;
        break;
      }
      case "secret":
      case "alg":
      case "iss":
      case "aud":
        if (typeof v !== "string") throw builtinError(name, `${key} constraint: must be a string`);
        c[key] = v;
        break;
      case "time":
        if (typeof v !== "number") throw builtinError(name, "token time constraint: must be a number");
        if (v < 0) throw builtinError(name, "token time constraint: must not be negative");
        c.timeNs = v;
        break;
      default:
        throw builtinError(name, `unknown token validation constraint: ${key}`);
    }
  }
  if (c.timeNs === -1) c.timeNs = Number(options.nowNs());
  const keyConstraints = (c.keys !== undefined ? 1 : 0) + (c.secret !== "" ? 1 : 0);
  if (keyConstraints > 1) throw builtinError(name, "duplicate key constraints");
  if (keyConstraints < 1) throw builtinError(name, "no key constraint");
  if (c.keys === undefined) c.material = `s${c.secret.length}:${c.secret}`;
  return c;
}

function verifySignature(name: string, token: JsonValue, c: Constraints): CachedVerification {
  const secretKey = Buffer.from(c.secret, "utf8");
  let current: JsonValue = token;
  for (;;) {
    const parts = splitToken(name, current);
    const decodedHeader = decodeHeader(name, parts);
    const header = parseTokenHeader(name, decodedHeader);
    if (!headerIsValid(header)) return { valid: false };
    if (c.alg !== "" && c.alg !== header.alg) return { valid: false };
    const signature = decodeSignature(name, parts);
    const check = headerCheckFor(header.alg);
    const input = signingInput(parts);
    const verified = check !== undefined && (c.keys
      ? verifyWithKeys(c.keys, header.kid, header.alg, (k) => check(k.key, input, signature))
      : check(secretKey, input, signature));
    if (!verified) return { valid: false };
    const payloadText = decodePayloadText(name, parts);
    if (header.cty.toUpperCase() === "JWT") {
      current = payloadText;
      continue;
    }
    return { valid: true, header: decodedHeader, payload: parseJsonObject(name, payloadText) };
  }
}

function audienceMatches(aud: JsonValue, wanted: string): boolean {
  if (typeof aud === "string") return aud === wanted;
  return Array.isArray(aud) && aud.some((a) => typeof a === "string" && a === wanted);
}

/** Registered claims (RFC 7519 4.1): iss and aud against the constraints, exp and nbf against the time. */
function claimsHold(name: string, payload: JsonObject, c: Constraints): boolean {
  if (c.iss !== "") {
    const iss = payload["iss"];
    if (iss === undefined) return false;
    if (typeof iss !== "string") throw builtinError(name, "iss value must be a string");
    if (iss !== c.iss) return false;
  }
  const aud = payload["aud"];
  if (aud !== undefined ? !audienceMatches(aud, c.aud) : c.aud !== "") return false;
  const seconds = c.timeNs / 1e9;
  const exp = payload["exp"];
  if (exp !== undefined) {
    if (typeof exp !== "number") throw builtinError(name, "exp value must be a number");
    if (seconds >= exp) return false;
  }
  const nbf = payload["nbf"];
  if (nbf !== undefined) {
    if (typeof nbf !== "number") throw builtinError(name, "nbf value must be a number");
    if (seconds < nbf) return false;
  }
  return true;
}

/** How many of the latest decode_verify verifications are matched by comparing strings, before the LRU. */
const RECENT_VERIFICATIONS = 8;

interface RecentVerification {
  token: string;
  material: string;
  alg: string;
  result: CachedVerification;
}

export function jwtBuiltins(options: JwtOptions): Record<string, BuiltinImpl> {
  const cache = new LruCache<string, CachedVerification | boolean>(options.tokenCacheSize);
  // The few latest (token, key material, alg) verifications: found by comparing the strings, which
  // is cheaper than building the LRU's key (token and material concatenated) and hashing it. Each
  // was made with exactly that token, key material and alg; claims are still checked per call.
  const recent: RecentVerification[] = [];
  let nextRecent = 0;
  const findRecent = (token: string, c: Constraints): CachedVerification | undefined => {
    for (const r of recent) if (r.token === token && r.material === c.material && r.alg === c.alg) return r.result;
    return undefined;
  };

  const decodeVerify: BuiltinImpl = (token, constraints) => {
    const name = "io.jwt.decode_verify";
    const c = parseConstraints(name, constraints, options);
    let result = typeof token === "string" ? findRecent(token, c) : undefined;
    if (result === undefined) {
      const cacheKey = `dv\n${c.material}\n${c.alg}\n${typeof token === "string" ? token : JSON.stringify(token)}`;
      result = cache.get(cacheKey) as CachedVerification | undefined;
      if (result === undefined) {
        result = verifySignature(name, token, c);
        cache.set(cacheKey, result);
      }
      if (typeof token === "string" && options.tokenCacheSize > 0) {
        recent[nextRecent] = { token, material: c.material, alg: c.alg, result };
        nextRecent = (nextRecent + 1) % RECENT_VERIFICATIONS;
      }
    }
    if (!result.valid || !claimsHold(name, result.payload, c)) return unverified();
    return [true, result.header, result.payload];
  };

  function verifyAsymmetric(alg: string): BuiltinImpl {
    const name = `io.jwt.verify_${alg.toLowerCase()}`;
    const check = builtinCheckFor(alg);
    return (token, certificate) => {
      const parts = splitToken(name, token);
      const parsed = options.keys.parse(name, stringOperand(name, certificate, 2));
      const cacheKey = `${alg}\nc${parsed.id}\n${token as string}`;
      const cached = cache.get(cacheKey);
      if (typeof cached === "boolean") return cached;
      const signature = decodeSignature(name, parts);
      const header = parseTokenHeader(name, decodeHeader(name, parts));
      const input = signingInput(parts);
      const valid = verifyWithKeys(parsed.keys, header.kid, header.alg, (k) => !k.private && check(k.key, input, signature));
      cache.set(cacheKey, valid);
      return valid;
    };
  }

  function verifyHmac(alg: string): BuiltinImpl {
    const name = `io.jwt.verify_${alg.toLowerCase()}`;
    const check = builtinCheckFor(alg);
    return (token, secret) => {
      stringOperand(name, token, 1);
      const key = Buffer.from(stringOperand(name, secret, 2), "utf8");
      const parts = splitToken(name, token);
      return check(key, signingInput(parts), decodeSignature(name, parts));
    };
  }

  const builtins: Record<string, BuiltinImpl> = {
    "io.jwt.decode": (token) => decode(token as JsonValue),
    "io.jwt.decode_verify": decodeVerify,
    "io.jwt.verify_eddsa": verifyAsymmetric("EdDSA"),
  };
  for (const bits of ["256", "384", "512"]) {
    for (const family of ["RS", "PS", "ES"]) builtins[`io.jwt.verify_${family.toLowerCase()}${bits}`] = verifyAsymmetric(`${family}${bits}`);
    builtins[`io.jwt.verify_hs${bits}`] = verifyHmac(`HS${bits}`);
  }
  return builtins;
}
