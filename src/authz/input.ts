import type { Metadata } from "../gen/envoy/config/core/v3/base.js";
import type { AttributeContext } from "../gen/envoy/service/auth/v3/attribute_context.js";
import type { CheckRequest } from "../gen/envoy/service/auth/v3/external_auth.js";
import { parseBody } from "./body/index.js";
import { InputTooLarge } from "./input-error.js";
import { parsePath } from "./path.js";
import { attributesToJson } from "./protojson.js";
import { checkShape, type ShapeBounds } from "./shape.js";

export interface InputLimits extends ShapeBounds {
  maxBodyBytes: number;
  /** Bounds `headers` and `header_map` alike, whichever Envoy fills. */
  maxHeaderCount: number;
  maxHeaderBytes: number;
  maxPathBytes: number;
  /** Every other map in the request: context_extensions, peer labels, metadata namespaces. */
  maxMapEntries: number;
  maxMapBytes: number;
}

export interface InputOptions {
  skipBodyParse: boolean;
  limits: InputLimits;
}

/** The input document, as opa-envoy-plugin builds it for ext_authz v3. */
export interface PolicyInput {
  attributes: Record<string, unknown>;
  version: { ext_authz: "v3"; encoding: "protojson" };
  parsed_path: string[];
  parsed_query: Record<string, string[]>;
  parsed_body?: unknown;
  truncated_body?: boolean;
  source_principal?: string;
  [extra: string]: unknown;
}

const VERSION = Object.freeze({ ext_authz: "v3", encoding: "protojson" } as const);

function checkHeaders(count: number, size: number, field: string, limits: InputLimits): void {
  if (count > limits.maxHeaderCount) throw new InputTooLarge(`more than ${limits.maxHeaderCount} headers in ${field}`, 431);
  if (size > limits.maxHeaderBytes) throw new InputTooLarge(`${field} larger than ${limits.maxHeaderBytes} bytes`, 431);
}

function checkMap(map: Record<string, string> | undefined, field: string, limits: InputLimits): void {
  let count = 0;
  let size = 0;
  for (const k in map) {
    if (++count > limits.maxMapEntries) throw new InputTooLarge(`${field} has more than ${limits.maxMapEntries} entries`, 400);
    size += k.length + (map[k]?.length ?? 0);
  }
  if (size > limits.maxMapBytes) throw new InputTooLarge(`${field} is larger than ${limits.maxMapBytes} bytes`, 400);
}

function checkMetadata(m: Metadata | undefined, field: string, limits: InputLimits): void {
  if (!m) return;
  let count = 0;
  for (const k in m.filterMetadata) {
    if (++count > limits.maxMapEntries) throw new InputTooLarge(`${field}.filter_metadata has more than ${limits.maxMapEntries} entries`, 400);
    checkShape(m.filterMetadata[k], limits, `${field}.filter_metadata`);
  }
  count = 0;
  let size = 0;
  for (const k in m.typedFilterMetadata) {
    if (++count > limits.maxMapEntries) throw new InputTooLarge(`${field}.typed_filter_metadata has more than ${limits.maxMapEntries} entries`, 400);
    size += k.length + (m.typedFilterMetadata[k]?.value.length ?? 0);
  }
  if (size > limits.maxMapBytes) throw new InputTooLarge(`${field}.typed_filter_metadata is larger than ${limits.maxMapBytes} bytes`, 400);
}

/** Every map and list a client or Envoy fills is bounded before any of it is copied into the input. */
function checkBounds(attrs: AttributeContext | undefined, limits: InputLimits): void {
  const http = attrs?.request?.http;
  if ((http?.path.length ?? 0) > limits.maxPathBytes) throw new InputTooLarge(`path longer than ${limits.maxPathBytes} bytes`, 414);
  const headers = http?.headers ?? {};
  let count = 0;
  let size = 0;
  for (const k in headers) {
    count++;
    size += k.length + (headers[k]?.length ?? 0);
  }
  checkHeaders(count, size, "headers", limits);
  const list = http?.headerMap?.headers ?? [];
  size = 0;
  for (const h of list) size += h.key.length + h.value.length + h.rawValue.length;
  checkHeaders(list.length, size, "header_map", limits);
  checkMap(attrs?.contextExtensions, "context_extensions", limits);
  checkMap(attrs?.source?.labels, "source.labels", limits);
  checkMap(attrs?.destination?.labels, "destination.labels", limits);
  checkMetadata(attrs?.metadataContext, "metadata_context", limits);
  checkMetadata(attrs?.routeMetadataContext, "route_metadata_context", limits);
}

/** CheckRequest → input document. Throws TollgateError("request_parse_error" | "request_too_large"). */
export function buildInput(req: CheckRequest, options: InputOptions): PolicyInput {
  const attrs = req.attributes;
  const http = attrs?.request?.http;
  const headers = http?.headers ?? {};
  const path = http?.path ?? "";
  checkBounds(attrs, options.limits);

  const { parsedPath, parsedQuery } = parsePath(path);
  const input: PolicyInput = {
    attributes: attrs ? attributesToJson(attrs) : {},
    version: VERSION,
    parsed_path: parsedPath,
    parsed_query: parsedQuery,
  };
  if (!options.skipBodyParse) {
    const { parsedBody, truncated } = parseBody({
      headers,
      body: http?.body ?? "",
      rawBody: http?.rawBody ?? new Uint8Array(),
      maxBodyBytes: options.limits.maxBodyBytes,
    });
    checkShape(parsedBody, options.limits, "request body");
    input.parsed_body = parsedBody;
    input.truncated_body = truncated;
  }
  const principal = attrs?.source?.principal;
  if (principal) input.source_principal = principal;
  return input;
}
