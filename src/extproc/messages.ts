import { ProcessingMode_BodySendMode, ProcessingMode_HeaderSendMode, type ProcessingMode } from "../gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode.js";
import type { HeaderMap } from "../gen/envoy/config/core/v3/base.js";
import type { ProcessingRequest, ProcessingResponse } from "../gen/envoy/service/ext_proc/v3/external_processor.js";

/** Where Check's dynamic_metadata reaches ext_proc (metadata_options.forwarding_namespaces.untyped). */
export const AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz";
/** Where tollgate writes the usage of a response back (metadata_options.receiving_namespaces.untyped). */
export const USAGE_NAMESPACE = "tollgate.usage";

/** A header's value as Envoy sends it: raw_value bytes (current Envoy), or value (older Envoy). */
export function headerValue(map: HeaderMap | undefined, name: string): string | undefined {
  const h = map?.headers.find((x) => x.key.toLowerCase() === name);
  if (h === undefined) return undefined;
  return h.rawValue.length > 0 ? h.rawValue.toString("utf8") : h.value;
}

/**
 * The mode_override that stops Envoy sending this response's body and trailers: tollgate has
 * nothing to count (refused reservation, upstream error). Honoured by Envoy only with
 * allow_mode_override, and only on the answer to a headers message.
 */
export const BODY_NOT_NEEDED: ProcessingMode = {
  requestHeaderMode: ProcessingMode_HeaderSendMode.SKIP,
  responseHeaderMode: ProcessingMode_HeaderSendMode.SEND,
  requestBodyMode: ProcessingMode_BodySendMode.NONE,
  responseBodyMode: ProcessingMode_BodySendMode.NONE,
  requestTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
  responseTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
};

type Part = Omit<ProcessingResponse, "dynamicMetadata" | "modeOverride" | "overrideMessageTimeout">;

/** A ProcessingResponse with the given part and optional fields. */
export function answer(part: Part, extra: Partial<Pick<ProcessingResponse, "dynamicMetadata" | "modeOverride">> = {}): ProcessingResponse {
  return { ...part, dynamicMetadata: extra.dynamicMetadata, modeOverride: extra.modeOverride, overrideMessageTimeout: undefined };
}

/** The answer that changes nothing, for whichever message came: Envoy requires one answer per message. */
export function passThrough(req: ProcessingRequest): ProcessingResponse {
  if (req.requestHeaders) return answer({ requestHeaders: { response: undefined } });
  if (req.responseHeaders) return answer({ responseHeaders: { response: undefined } });
  if (req.requestBody) return answer({ requestBody: { response: undefined } });
  if (req.responseBody) return answer({ responseBody: { response: undefined } });
  if (req.requestTrailers) return answer({ requestTrailers: { headerMutation: undefined } });
  return answer({ responseTrailers: { headerMutation: undefined } });
}

/** The message kind, for logs. */
export function messageKind(req: ProcessingRequest): string {
  if (req.requestHeaders) return "request_headers";
  if (req.responseHeaders) return "response_headers";
  if (req.requestBody) return "request_body";
  if (req.responseBody) return "response_body";
  if (req.requestTrailers) return "request_trailers";
  if (req.responseTrailers) return "response_trailers";
  return "empty";
}
