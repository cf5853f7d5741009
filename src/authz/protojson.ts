import type { Address } from "../gen/envoy/config/core/v3/address.js";
import type { HeaderMap, Metadata } from "../gen/envoy/config/core/v3/base.js";
import type {
  AttributeContext,
  AttributeContext_HttpRequest,
  AttributeContext_Peer,
  AttributeContext_Request,
} from "../gen/envoy/service/auth/v3/attribute_context.js";
import type { Timestamp } from "../gen/google/protobuf/timestamp.js";

/**
 * Renders a decoded AttributeContext exactly as Go's protojson.Marshal does, which is what
 * opa-envoy-plugin feeds to policies: lowerCamelCase names, only set fields, int64 as strings,
 * enums by name, bytes as base64, Timestamps as RFC 3339. Written per field (not by reflection)
 * because this runs on every Check.
 */
type Json = Record<string, unknown>;

function putString(out: Json, key: string, v: string): void {
  if (v !== "") out[key] = v;
}

function putMap(out: Json, key: string, v: Record<string, unknown>): void {
  for (const _ in v) {
    out[key] = v;
    return;
  }
}

/** The last second formatted: every Check formats request.time, and most fall in the second before. */
let lastSeconds = Number.NaN;
let lastBase = "";

export function timestampToJson(t: Timestamp): string {
  if (t.seconds !== lastSeconds) {
    lastBase = new Date(t.seconds * 1000).toISOString().slice(0, 19);
    lastSeconds = t.seconds;
  }
  const base = lastBase;
  const nanos = t.nanos;
  if (nanos === 0) return `${base}Z`;
  const digits = String(nanos).padStart(9, "0");
  const frac = nanos % 1_000_000 === 0 ? digits.slice(0, 3) : nanos % 1000 === 0 ? digits.slice(0, 6) : digits;
  return `${base}.${frac}Z`;
}

function addressToJson(a: Address): Json {
  const out: Json = {};
  if (a.socketAddress) {
    const s = a.socketAddress;
    const sa: Json = {};
    if (s.protocol === 1) sa["protocol"] = "UDP";
    putString(sa, "address", s.address);
    if (s.portValue !== undefined) sa["portValue"] = s.portValue;
    if (s.namedPort !== undefined) sa["namedPort"] = s.namedPort;
    putString(sa, "resolverName", s.resolverName);
    if (s.ipv4Compat) sa["ipv4Compat"] = true;
    out["socketAddress"] = sa;
  } else if (a.pipe) {
    const p: Json = {};
    putString(p, "path", a.pipe.path);
    if (a.pipe.mode !== 0) p["mode"] = a.pipe.mode;
    out["pipe"] = p;
  } else if (a.envoyInternalAddress) {
    const e: Json = {};
    if (a.envoyInternalAddress.serverListenerName !== undefined) e["serverListenerName"] = a.envoyInternalAddress.serverListenerName;
    putString(e, "endpointId", a.envoyInternalAddress.endpointId);
    out["envoyInternalAddress"] = e;
  }
  return out;
}

function peerToJson(p: AttributeContext_Peer): Json {
  const out: Json = {};
  if (p.address) out["address"] = addressToJson(p.address);
  putString(out, "service", p.service);
  putMap(out, "labels", p.labels);
  putString(out, "principal", p.principal);
  putString(out, "certificate", p.certificate);
  return out;
}

function headerMapToJson(h: HeaderMap): Json {
  return {
    headers: h.headers.map((hv) => {
      const o: Json = {};
      putString(o, "key", hv.key);
      putString(o, "value", hv.value);
      if (hv.rawValue.length > 0) o["rawValue"] = Buffer.from(hv.rawValue).toString("base64");
      return o;
    }),
  };
}

function httpToJson(h: AttributeContext_HttpRequest): Json {
  const out: Json = {};
  putString(out, "id", h.id);
  putString(out, "method", h.method);
  putMap(out, "headers", h.headers);
  if (h.headerMap && h.headerMap.headers.length > 0) out["headerMap"] = headerMapToJson(h.headerMap);
  putString(out, "path", h.path);
  putString(out, "host", h.host);
  putString(out, "scheme", h.scheme);
  putString(out, "query", h.query);
  putString(out, "fragment", h.fragment);
  if (h.size !== 0) out["size"] = String(h.size);
  putString(out, "protocol", h.protocol);
  putString(out, "body", h.body);
  if (h.rawBody.length > 0) out["rawBody"] = Buffer.from(h.rawBody).toString("base64");
  return out;
}

function requestToJson(r: AttributeContext_Request): Json {
  const out: Json = {};
  if (r.time) out["time"] = timestampToJson(r.time);
  if (r.http) out["http"] = httpToJson(r.http);
  return out;
}

function metadataToJson(m: Metadata): Json {
  const out: Json = {};
  putMap(out, "filterMetadata", m.filterMetadata);
  const typed: Json = {};
  let any = false;
  for (const [k, v] of Object.entries(m.typedFilterMetadata)) {
    // Decoding an arbitrary Any needs its type registry; we pass the packed form through.
    typed[k] = { "@type": v.typeUrl, value: Buffer.from(v.value).toString("base64") };
    any = true;
  }
  if (any) out["typedFilterMetadata"] = typed;
  return out;
}

export function attributesToJson(a: AttributeContext): Json {
  const out: Json = {};
  if (a.source) out["source"] = peerToJson(a.source);
  if (a.destination) out["destination"] = peerToJson(a.destination);
  if (a.request) out["request"] = requestToJson(a.request);
  putMap(out, "contextExtensions", a.contextExtensions);
  if (a.metadataContext) out["metadataContext"] = metadataToJson(a.metadataContext);
  if (a.routeMetadataContext) out["routeMetadataContext"] = metadataToJson(a.routeMetadataContext);
  if (a.tlsSession) {
    const t: Json = {};
    putString(t, "sni", a.tlsSession.sni);
    out["tlsSession"] = t;
  }
  return out;
}
