import { beforeAll, describe, expect, it } from "vitest";
import type protobuf from "protobufjs";
import { checkEnvoySemantics, dig } from "./support/envoy-checks.js";
import { loadEnvoyRoot } from "./support/envoy-protos.js";
import { AUTHZ, BOOTSTRAP, ROUTES } from "./support/envoy-yaml-paths.js";
import { at, listAt } from "./support/paths.js";
import { readRepoYaml } from "./support/repo.js";
import { decodeStrict } from "./support/strict-protojson.js";

let root: protobuf.Root;
let config: unknown;

beforeAll(() => {
  root = loadEnvoyRoot();
  config = readRepoYaml("envoy/envoy.yaml");
});

function collectTypes(value: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(value)) value.forEach((v: unknown) => collectTypes(v, out));
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === "@type" && typeof v === "string") out.add(v);
      else collectTypes(v, out);
    }
  }
  return out;
}

describe("envoy/envoy.yaml", () => {
  it("decodes strictly as envoy.config.bootstrap.v3.Bootstrap: no unknown fields, type errors, PGV or deprecation issues", () => {
    expect(decodeStrict({ root, typeName: BOOTSTRAP, value: config })).toEqual([]);
  });

  it("passes every cross-check against tollgate's contract (clusters, filter order, HTTP/2, routes, TLS)", () => {
    expect(checkEnvoySemantics(config)).toEqual([]);
  });

  it("uses exactly these extension types, each loaded from an explicitly listed proto", () => {
    const types = [...collectTypes(config, new Set())].sort();
    expect(types).toEqual([
      "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
      "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
      "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
      "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute",
      "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
      "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
      "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery",
      "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation",
      "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
      "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
      "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    ]);
    for (const t of types) expect(root.lookupType(t.slice(t.indexOf("/") + 1)).fullName).toBe(`.${t.slice(t.indexOf("/") + 1)}`);
  });

  it("gives every provider route the same three rate limit descriptors (YAML alias, resolved)", () => {
    const routes = listAt(config, ROUTES);
    const limits = [1, 2, 3, 4, 5].map((i) => JSON.stringify(dig(routes[i], "route.rate_limits")));
    expect(new Set(limits).size).toBe(1);
    expect(JSON.parse(limits[0]!)).toEqual([
      { actions: [{ request_headers: { header_name: "x-tollgate-tenant", descriptor_key: "tenant" } }] },
      {
        actions: [
          { request_headers: { header_name: "x-tollgate-tenant", descriptor_key: "tenant" } },
          { request_headers: { header_name: "x-tollgate-upstream", descriptor_key: "upstream" } },
        ],
      },
      { actions: [{ generic_key: { descriptor_value: "per_client_ip" } }, { remote_address: {} }] },
    ]);
  });

  it("sends the body to tollgate as UTF-8 text (1 MiB, partial allowed), raw bytes only on /v1/audio/", () => {
    expect(at(config, AUTHZ)["with_request_body"]).toEqual({ max_request_bytes: 1048576, allow_partial_message: true, pack_as_bytes: false });
    const audio = listAt(config, ROUTES).find((r) => dig(r, "match.prefix") === "/v1/audio/");
    const perRoute = dig(audio, "typed_per_filter_config") as Record<string, unknown>;
    expect(dig(perRoute["envoy.filters.http.ext_authz"], "check_settings.with_request_body")).toEqual({
      max_request_bytes: 1048576,
      allow_partial_message: true,
      pack_as_bytes: true,
    });
  });
});
