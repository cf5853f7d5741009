import { decodeBase64Url } from "./encoding.js";
import { builtinError, isObject, stringOperand, type JsonObject, type JsonValue } from "./operands.js";

/** The three base64url sections of a JWS compact serialization, still encoded. */
export interface TokenParts {
  header: string;
  payload: string;
  signature: string;
}

export function splitToken(name: string, value: JsonValue | undefined): TokenParts {
  const token = stringOperand(name, value, 1);
  if (!token.includes(".")) throw builtinError(name, "encoded JWT had no period separators");
  const parts = token.split(".");
  if (parts.length !== 3) throw builtinError(name, `encoded JWT must have 3 sections, found ${parts.length}`);
  const [header, payload, signature] = parts as [string, string, string];
  return { header, payload, signature };
}

/** Parses JSON that must be an object; duplicate keys keep the last value, as Go's decoder does. */
export function parseJsonObject(name: string, text: string): JsonObject {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw builtinError(name, `invalid JSON: ${(err as Error).message}`, err);
  }
  if (!isObject(value)) throw builtinError(name, "decoded JSON type was not an Object");
  return value;
}

export function decodeHeader(name: string, parts: TokenParts): JsonObject {
  let text: string;
  try {
    text = decodeBase64Url(name, parts.header).toString("utf8");
  } catch (err) {
    throw builtinError(name, `JWT header had invalid encoding: ${(err as Error).message}`, err);
  }
  let header: JsonObject;
  try {
    header = parseJsonObject(name, text);
  } catch (err) {
    throw builtinError(name, `bad JWT header: ${(err as Error).message}`, err);
  }
  // A JWE (RFC 7516 section 9) carries "enc"; OPA does not support those.
  if (header["enc"] !== undefined) throw builtinError(name, "JWT is a JWE object, which is not supported");
  return header;
}

export function decodePayloadText(name: string, parts: TokenParts): string {
  try {
    return decodeBase64Url(name, parts.payload).toString("utf8");
  } catch (err) {
    throw builtinError(name, `JWT payload had invalid encoding: ${(err as Error).message}`, err);
  }
}

export function decodeSignature(name: string, parts: TokenParts): Buffer {
  return decodeBase64Url(name, parts.signature);
}

/** The JOSE header fields OPA interprets; anything else is collected in `unknown`. */
export interface TokenHeader {
  alg: string;
  kid: string;
  typ: string;
  cty: string;
  crit: ReadonlySet<string>;
  unknown: string[];
}

const STRING_FIELDS = ["alg", "kid", "typ", "cty"] as const;

export function parseTokenHeader(name: string, decoded: JsonObject): TokenHeader {
  const header: TokenHeader = { alg: "", kid: "", typ: "", cty: "", crit: new Set(), unknown: [] };
  for (const [key, value] of Object.entries(decoded)) {
    if ((STRING_FIELDS as readonly string[]).includes(key)) {
      if (typeof value !== "string") throw builtinError(name, `${key}: must be a string`);
      header[key as (typeof STRING_FIELDS)[number]] = value;
    } else if (key === "crit") {
      if (!Array.isArray(value)) throw builtinError(name, "crit: must be a list");
      // OPA stops collecting at the first non-string entry without failing.
      const crit = new Set<string>();
      for (const entry of value) {
        if (typeof entry !== "string") break;
        crit.add(entry);
      }
      if (crit.size === 0) throw builtinError(name, "crit: must be a nonempty list");
      header.crit = crit;
    } else {
      header.unknown.push(key);
    }
  }
  return header;
}

/** RFC 7515: alg is required, and a critical parameter we do not understand invalidates the JWS. */
export function headerIsValid(header: TokenHeader): boolean {
  return header.alg !== "" && !header.unknown.some((name) => header.crit.has(name));
}

export function signingInput(parts: TokenParts): Buffer {
  return Buffer.from(`${parts.header}.${parts.payload}`, "utf8");
}
