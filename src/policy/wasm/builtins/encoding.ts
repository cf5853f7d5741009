import { builtinError, isObject, stringOperand, utf8, type BuiltinImpl, type JsonValue } from "./operands.js";

const BASE64URL_PADDED = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * OPA's base64url.decode: restores missing padding (RFC 7515 appendix C), then decodes
 * strictly like Go's base64.URLEncoding (which skips CR/LF). Node's decoder would silently
 * drop bad characters, so the shape is checked first.
 */
export function decodeBase64Url(name: string, s: string): Buffer {
  let padded = s;
  if (!s.endsWith("=")) {
    switch (s.length % 4) {
      case 0:
        break;
      case 2:
        padded += "==";
        break;
      case 3:
        padded += "=";
        break;
      default:
        throw builtinError(name, `illegal base64url string: ${s}`);
    }
  }
  const clean = padded.replace(/[\r\n]/g, "");
  if (!BASE64URL_PADDED.test(clean)) throw builtinError(name, "illegal base64 data");
  return Buffer.from(clean, "base64url");
}

/** Go's hex.DecodeString: even length, hex digits of either case. */
export function decodeHex(name: string, s: string): Buffer {
  if (!HEX.test(s)) throw builtinError(name, s.length % 2 === 1 && /^[0-9a-fA-F]*$/.test(s) ? "encoding/hex: odd length hex string" : "encoding/hex: invalid byte");
  return Buffer.from(s, "hex");
}

const QUERY_UNRESERVED = /[A-Za-z0-9\-_.~]/;

/** Go's url.QueryEscape: everything but unreserved characters is %XX-escaped, space becomes '+'. */
export function queryEscape(s: string): string {
  let out = "";
  for (const byte of utf8(s)) {
    const ch = String.fromCharCode(byte);
    if (byte < 0x80 && QUERY_UNRESERVED.test(ch)) out += ch;
    else if (byte === 0x20) out += "+";
    else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function isHexDigit(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

/** Go's url.QueryUnescape: '+' is a space, every '%' must start a two-digit hex escape. */
export function queryUnescape(name: string, s: string): string {
  const bytes = utf8(s);
  const out = Buffer.alloc(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b === 0x25) {
      const hi = bytes[i + 1];
      const lo = bytes[i + 2];
      if (hi === undefined || lo === undefined || !isHexDigit(hi) || !isHexDigit(lo)) {
        throw builtinError(name, `invalid URL escape ${JSON.stringify(bytes.subarray(i, i + 3).toString("utf8"))}`);
      }
      out[n++] = parseInt(String.fromCharCode(hi, lo), 16);
      i += 2;
    } else {
      out[n++] = b === 0x2b ? 0x20 : b;
    }
  }
  return out.subarray(0, n).toString("utf8");
}

function urlqueryEncodeObject(object: JsonValue): string {
  const name = "urlquery.encode_object";
  if (!isObject(object)) throw builtinError(name, "operand 1 must be object");
  const pairs: string[] = [];
  for (const key of Object.keys(object).sort()) {
    const value = object[key];
    const values = typeof value === "string" ? [value] : Array.isArray(value) ? value : undefined;
    if (values === undefined || values.some((v) => typeof v !== "string")) {
      throw builtinError(name, "operand 1 values must be string, array[string], or set[string]");
    }
    for (const v of values as string[]) pairs.push(`${queryEscape(key)}=${queryEscape(v)}`);
  }
  return pairs.join("&");
}

function urlqueryDecodeObject(query: string): Record<string, string[]> {
  const name = "urlquery.decode_object";
  const result: Record<string, string[]> = {};
  let firstError: Error | undefined;
  for (const part of query.split("&")) {
    if (part.includes(";")) {
      firstError ??= builtinError(name, "invalid semicolon separator in query");
      continue;
    }
    if (part === "") continue;
    const eq = part.indexOf("=");
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? "" : part.slice(eq + 1);
    try {
      const key = queryUnescape(name, rawKey);
      const value = queryUnescape(name, rawValue);
      (result[key] ??= []).push(value);
    } catch (err) {
      firstError ??= err as Error;
    }
  }
  if (firstError) throw firstError;
  return result;
}

export function encodingBuiltins(): Record<string, BuiltinImpl> {
  return {
    "base64url.encode_no_pad": (x) => utf8(stringOperand("base64url.encode_no_pad", x, 1)).toString("base64url"),
    "hex.encode": (x) => utf8(stringOperand("hex.encode", x, 1)).toString("hex"),
    "hex.decode": (x) => decodeHex("hex.decode", stringOperand("hex.decode", x, 1)).toString("utf8"),
    "urlquery.encode": (x) => queryEscape(stringOperand("urlquery.encode", x, 1)),
    "urlquery.decode": (x) => queryUnescape("urlquery.decode", stringOperand("urlquery.decode", x, 1)),
    "urlquery.encode_object": (x) => urlqueryEncodeObject(x as JsonValue),
    "urlquery.decode_object": (x) => urlqueryDecodeObject(stringOperand("urlquery.decode_object", x, 1)),
  };
}
