import { beforeAll, describe, expect, it } from "vitest";
import type protobuf from "protobufjs";
import { checkEnvoySemantics, dig, TOLLGATE_CONTRACT, upstreamOfRoute } from "./support/envoy-checks.js";
import { loadEnvoyRoot } from "./support/envoy-protos.js";
import { AUTHZ, BOOTSTRAP, FILTERS, ROUTES } from "./support/envoy-yaml-paths.js";
import { at, listAt } from "./support/paths.js";
import { readRepoFile, readRepoYaml } from "./support/repo.js";
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

  it("routes every cluster policies/data.json names, and only those, with the same two stage-0 descriptors", () => {
    const data = JSON.parse(readRepoFile("policies/data.json")) as { gateway: { upstreams: Record<string, { cluster: string }> } };
    const clusters = Object.values(data.gateway.upstreams).map((u) => u.cluster).sort();
    expect(Object.keys(TOLLGATE_CONTRACT.upstreams).sort()).toEqual(clusters);
    const routes = listAt(config, ROUTES).filter((r) => upstreamOfRoute(r as Record<string, unknown>, TOLLGATE_CONTRACT.upstreamHeader) !== undefined);
    expect(routes.map((r) => dig(r, "route.cluster")).sort()).toEqual(clusters);
    const limits = routes.map((r) => JSON.stringify(dig(r, "route.rate_limits")));
    expect(new Set(limits).size).toBe(1);
    expect(JSON.parse(limits[0]!)).toEqual([
      { actions: [{ request_headers: { header_name: "x-tollgate-tenant", descriptor_key: "tenant" } }] },
      {
        actions: [
          { request_headers: { header_name: "x-tollgate-tenant", descriptor_key: "tenant" } },
          { request_headers: { header_name: "x-tollgate-upstream", descriptor_key: "upstream" } },
        ],
      },
    ]);
  });

  it("runs the per-client flood guard first, on every route a request can match before ext_authz answers", () => {
    const filters = listAt(config, FILTERS).map((f) => [dig(f, "name"), dig(f, "typed_config.stage") ?? 0, dig(f, "typed_config.enable_x_ratelimit_headers") ?? "OFF"]);
    expect(filters).toEqual([
      ["flood_guard", 1, "OFF"],
      ["envoy.filters.http.ext_authz", 0, "OFF"],
      ["envoy.filters.http.ratelimit", 0, "DRAFT_VERSION_03"],
      ["envoy.filters.http.ext_proc", 0, "OFF"],
      ["envoy.filters.http.router", 0, "OFF"],
    ]);
    // Before ext_authz, x-tollgate-upstream is absent: these are the routes a request can match.
    const preAuth = listAt(config, ROUTES).filter((r) => upstreamOfRoute(r as Record<string, unknown>, TOLLGATE_CONTRACT.upstreamHeader) === undefined);
    const guarded = preAuth.map((r) => [dig(r, "name"), JSON.stringify(dig(r, "route.rate_limits")) === JSON.stringify([TOLLGATE_CONTRACT.floodGuard])]);
    // /healthz answers directly: no cluster, so Envoy runs no rate limit filter there.
    expect(guarded).toEqual([
      ["healthz", false],
      ["binary-uploads", true],
      ["no-upstream", true],
    ]);
    expect(dig(preAuth[0], "direct_response.status")).toBe(200);
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
