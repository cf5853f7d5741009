import { TollgateError } from "../errors.js";
import { arrayField, asStruct, intField, stringField } from "./go-json.js";

/** One entry of the JWT's `files` claim. */
export interface SignedFile {
  name: string;
  hash: string;
  algorithm: string;
}

/** The JWT payload as OPA's DecodedSignature reads it. */
export interface DecodedSignature {
  files: SignedFile[];
  keyId: string;
  scope: string;
  issuedAt: number | undefined;
  issuer: string;
}

export interface SignaturesFile {
  signatures: string[] | undefined;
  plugin: string;
}

const SIGNATURES_WHAT = "bundle load failed on signatures decode";
const PAYLOAD_WHAT = "JWT payload";

function formatError(message: string): TollgateError {
  return new TollgateError("policy_build_error", message);
}

export function decodeSignaturesFile(value: unknown): SignaturesFile {
  const obj = asStruct(value, SIGNATURES_WHAT);
  const list = arrayField(obj, "signatures", SIGNATURES_WHAT);
  const signatures = list?.map((s) => {
    if (s === null) return "";
    if (typeof s !== "string") throw formatError(`${SIGNATURES_WHAT}: signatures must be strings`);
    return s;
  });
  return { signatures, plugin: stringField(obj, "plugin", SIGNATURES_WHAT) };
}

/** Go's base64.RawURLEncoding: no padding, URL alphabet; CR and LF are skipped. */
export function rawUrlBase64(text: string): Buffer | undefined {
  const s = text.replace(/[\r\n]/g, "");
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s, "base64url");
}

/** jwx's lenient header decoding: padded or not, URL or standard alphabet. */
function lenientBase64(text: string): Buffer | undefined {
  const s = text.replace(/=+$/, "");
  if (!/^[A-Za-z0-9_\-+/]*$/.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s.replace(/\+/g, "-").replace(/\//g, "_"), "base64url");
}

export interface CompactToken {
  header: string;
  payload: string;
  signature: string;
}

export function splitCompact(token: string): CompactToken | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts as [string, string, string];
  return { header, payload, signature };
}

/** The header's "kid": a string, or undefined when absent; an unreadable header or non-string kid throws. */
export function headerKeyId(header: string): string | undefined {
  const decoded = lenientBase64(header);
  let parsed: unknown;
  try {
    if (decoded === undefined) throw new Error("bad base64");
    parsed = JSON.parse(decoded.toString("utf8"));
  } catch {
    throw formatError("failed to extract key ID from headers");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || !Object.hasOwn(parsed, "kid")) return undefined;
  const kid = (parsed as Record<string, unknown>)["kid"];
  if (typeof kid !== "string") throw formatError("failed to extract key ID from headers: kid is not a string");
  return kid;
}

export function decodePayload(payload: string): DecodedSignature {
  const bytes = rawUrlBase64(payload);
  if (bytes === undefined) throw formatError("failed to base64 decode JWT payload");
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw formatError(`JWT payload is not JSON: ${(err as Error).message}`);
  }
  const obj = asStruct(value, PAYLOAD_WHAT);
  const files = (arrayField(obj, "files", PAYLOAD_WHAT) ?? []).map((f) => {
    const entry = asStruct(f, PAYLOAD_WHAT);
    return { name: stringField(entry, "name", PAYLOAD_WHAT), hash: stringField(entry, "hash", PAYLOAD_WHAT), algorithm: stringField(entry, "algorithm", PAYLOAD_WHAT) };
  });
  return {
    files,
    keyId: stringField(obj, "keyid", PAYLOAD_WHAT),
    scope: stringField(obj, "scope", PAYLOAD_WHAT),
    issuedAt: intField(obj, "iat", PAYLOAD_WHAT),
    issuer: stringField(obj, "iss", PAYLOAD_WHAT),
  };
}
