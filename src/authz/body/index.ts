import { TollgateError } from "../../errors.js";
import { parseForm } from "./form.js";
import { parseMultipart } from "./multipart.js";

export interface ParsedBody {
  parsedBody: unknown;
  truncated: boolean;
}

export interface BodySource {
  headers: Record<string, string>;
  body: string;
  rawBody: Uint8Array;
  maxBodyBytes: number;
}

const NOTHING: ParsedBody = { parsedBody: null, truncated: false };

/**
 * Parses the request body by content type, as opa-envoy-plugin does: JSON, url-encoded form
 * and multipart form; anything else is null. A body Envoy cut short (partial-body header, or
 * content-length beyond what arrived) is reported as truncated and not parsed.
 */
export function parseBody(src: BodySource): ParsedBody {
  const text = src.body !== "" ? src.body : src.rawBody.length > 0 ? Buffer.from(src.rawBody).toString("utf8") : "";
  const byteLength = src.body !== "" ? Buffer.byteLength(src.body) : src.rawBody.length;

  if (src.headers["x-envoy-auth-partial-body"] === "true") return { parsedBody: null, truncated: true };
  const cl = src.headers["content-length"];
  if (cl !== undefined && text !== "") {
    if (!/^\d+$/.test(cl.trim())) throw new TollgateError("request_parse_error", `invalid content-length header: ${JSON.stringify(cl.slice(0, 32))}`);
    if (Number(cl) > byteLength) return { parsedBody: null, truncated: true };
  }
  if (text === "") return NOTHING;
  if (byteLength > src.maxBodyBytes) return { parsedBody: null, truncated: true };

  const contentType = (src.headers["content-type"] ?? "").toLowerCase();
  if (contentType.includes("application/json")) {
    try {
      return { parsedBody: JSON.parse(text), truncated: false };
    } catch (err) {
      throw new TollgateError("request_parse_error", `invalid JSON body: ${(err as Error).message}`, { cause: err });
    }
  }
  if (contentType.includes("application/x-www-form-urlencoded")) return { parsedBody: parseForm(text), truncated: false };
  if (contentType.includes("multipart/form-data")) return { parsedBody: parseMultipart(text, src.headers["content-type"] ?? ""), truncated: false };
  return NOTHING;
}
