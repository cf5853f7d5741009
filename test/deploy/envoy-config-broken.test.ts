import { beforeAll, describe, expect, it } from "vitest";
import type protobuf from "protobufjs";
import { checkEnvoySemantics } from "./support/envoy-checks.js";
import { loadEnvoyRoot } from "./support/envoy-protos.js";
import { AUTHZ, BOOTSTRAP, EXT_PROC, FLOOD_GUARD, HCM, RATELIMIT, ROUTER, ROUTES, TOLLGATE } from "./support/envoy-yaml-paths.js";
import { at, listAt } from "./support/paths.js";
import { clone, readRepoYaml } from "./support/repo.js";
import { decodeStrict, type Issue } from "./support/strict-protojson.js";

/** Deliberately broken copies of envoy/envoy.yaml: each must produce exactly the listed issues. */
let root: protobuf.Root;
let config: unknown;

beforeAll(() => {
  root = loadEnvoyRoot();
  config = readRepoYaml("envoy/envoy.yaml");
});

function validate(value: unknown): Issue[] {
  return [...decodeStrict({ root, typeName: BOOTSTRAP, value }), ...checkEnvoySemantics(value)];
}

/** The provider routes share one rate_limits list (a YAML alias); give one route its own copy. */
function unshareRateLimits(cfg: unknown, routeIndex: number): void {
  const route = at(cfg, `${ROUTES}[${routeIndex}].route`);
  route["rate_limits"] = clone(route["rate_limits"]);
}

interface BrokenCase {
  title: string;
  mutate: (cfg: unknown) => void;
  /** Every issue the broken copy must produce: [path, message pattern]. Nothing else may appear. */
  expected: [string, RegExp][];
}

const broken: BrokenCase[] = [
  {
    title: "ext_proc buffering the whole response (BUFFERED): no chunk could be stopped mid-stream",
    mutate: (cfg) => {
      (at(cfg, EXT_PROC)["processing_mode"] as Record<string, unknown>)["response_body_mode"] = "BUFFERED";
    },
    expected: [[`${HCM}.http_filters[ext_proc].processing_mode.response_body_mode`, /^must be STREAMED .*got BUFFERED$/]],
  },
  {
    title: "ext_proc not forwarding Check's namespace: every reservation would be missing",
    mutate: (cfg) => {
      at(cfg, EXT_PROC)["metadata_options"] = { receiving_namespaces: { untyped: ["tollgate.usage"] } };
    },
    expected: [[`${HCM}.http_filters[ext_proc].metadata_options`, /^forwarding_namespaces\.untyped must include envoy\.filters\.http\.ext_authz/]],
  },
  {
    title: "ext_proc failing closed and without mode override",
    mutate: (cfg) => {
      delete at(cfg, EXT_PROC)["failure_mode_allow"];
      at(cfg, EXT_PROC)["allow_mode_override"] = false;
    },
    expected: [
      [`${HCM}.http_filters[ext_proc]`, /^ext_proc must fail open/],
      [`${HCM}.http_filters[ext_proc]`, /^allow_mode_override must be true/],
    ],
  },
  {
    title: "ext_proc message_timeout that is not a duration",
    mutate: (cfg) => {
      at(cfg, EXT_PROC)["message_timeout"] = "500ms";
    },
    expected: [[`${EXT_PROC}.message_timeout`, /is not a duration/]],
  },
  {
    title: "a direct-response route with ext_proc left on",
    mutate: (cfg) => {
      delete at(cfg, `${ROUTES}[0]`)["typed_per_filter_config"];
    },
    expected: [[`${ROUTES}[0].typed_per_filter_config`, /^route "healthz" answers itself: ext_proc must be disabled there/]],
  },
  {
    title: "unknown field (typo with_request_bodyy) in the ext_authz config",
    mutate: (cfg) => {
      at(cfg, AUTHZ)["with_request_bodyy"] = { max_request_bytes: 10 };
    },
    expected: [[`${AUTHZ}.with_request_bodyy`, /^unknown field "with_request_bodyy" in envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz$/]],
  },
  {
    title: "unknown top-level field",
    mutate: (cfg) => {
      at(cfg, "")["static_resorces"] = {};
    },
    expected: [["static_resorces", /^unknown field "static_resorces"/]],
  },
  {
    title: "wrong type: a quoted boolean",
    mutate: (cfg) => {
      at(cfg, RATELIMIT)["failure_mode_deny"] = "false";
    },
    expected: [[`${RATELIMIT}.failure_mode_deny`, /^expected true or false, got "false"$/]],
  },
  {
    title: "wrong type: a port that is not a number",
    mutate: (cfg) => {
      at(cfg, "static_resources.listeners[0].address.socket_address")["port_value"] = "ten thousand";
    },
    expected: [
      ["static_resources.listeners[0].address.socket_address.port_value", /^expected an integer \(uint32\), got "ten thousand"$/],
      ["static_resources.listeners", /^no listener on port 10000$/],
    ],
  },
  {
    title: "wrong type: a list where an object belongs",
    mutate: (cfg) => {
      at(cfg, AUTHZ)["grpc_service"] = [{ envoy_grpc: { cluster_name: "tollgate" } }];
    },
    expected: [
      [`${AUTHZ}.grpc_service`, /^expected an object for envoy\.config\.core\.v3\.GrpcService, got a list$/],
      [`${HCM}.http_filters[ext_authz].grpc_service`, /^must point at cluster "tollgate", got undefined$/],
      [`${HCM}.http_filters[ext_authz].grpc_service`, /^cluster "undefined" does not exist$/],
    ],
  },
  {
    title: "out of range: uint32 port 4294967296",
    mutate: (cfg) => {
      at(cfg, `${TOLLGATE}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address`)["port_value"] = 4294967296;
    },
    expected: [
      [`${TOLLGATE}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value`, /out of range for uint32/],
      ["clusters.tollgate.load_assignment", /^expected endpoint tollgate:9191$/],
    ],
  },
  {
    title: "bad enum name (codec_type HTTP9)",
    mutate: (cfg) => {
      at(cfg, HCM)["codec_type"] = "HTTP9";
    },
    expected: [[`${HCM}.codec_type`, /^"HTTP9" is not a value of enum envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager\.CodecType \(expected one of AUTO, HTTP1, HTTP2, HTTP3\)$/]],
  },
  {
    title: "bad enum name (x-ratelimit headers draft 04)",
    mutate: (cfg) => {
      at(cfg, RATELIMIT)["enable_x_ratelimit_headers"] = "DRAFT_VERSION_04";
    },
    expected: [
      [`${RATELIMIT}.enable_x_ratelimit_headers`, /^"DRAFT_VERSION_04" is not a value of enum/],
      [`${HCM}.http_filters[envoy.filters.http.ratelimit]`, /^enable_x_ratelimit_headers must be DRAFT_VERSION_03 on the stage-0 filter \(one source of x-ratelimit-\* per response\), got DRAFT_VERSION_04$/],
    ],
  },
  {
    title: "duration without the s suffix",
    mutate: (cfg) => {
      at(cfg, `${AUTHZ}.grpc_service`)["timeout"] = "0.5";
    },
    expected: [[`${AUTHZ}.grpc_service.timeout`, /^"0\.5" is not a duration/]],
  },
  {
    title: "unresolvable @type (misspelt RateLimits)",
    mutate: (cfg) => {
      at(cfg, RATELIMIT)["@type"] = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimits";
    },
    expected: [
      [`${RATELIMIT}.@type`, /^unresolvable @type "type\.googleapis\.com\/envoy\.extensions\.filters\.http\.ratelimit\.v3\.RateLimits"/],
      [`${HCM}.http_filters`, /^filters must run RateLimit \(flood guard\), ExtAuthz, RateLimit, ExternalProcessor, Router; found RateLimit, ExtAuthz, RateLimits, ExternalProcessor, Router$/],
    ],
  },
  {
    title: "typed_config without @type",
    mutate: (cfg) => {
      delete at(cfg, ROUTER)["@type"];
    },
    expected: [
      [ROUTER, /^google\.protobuf\.Any needs a string "@type"/],
      [`${HCM}.http_filters`, /found RateLimit, ExtAuthz, RateLimit, ExternalProcessor, undefined$/],
    ],
  },
  {
    title: "oneof conflict: a route that both forwards and answers directly",
    mutate: (cfg) => {
      at(cfg, `${ROUTES}[1]`)["direct_response"] = { status: 200 };
    },
    expected: [[`${ROUTES}[1]`, /^only one of route, direct_response may be set \(oneof action\)$/]],
  },
  {
    title: "the same field twice, as proto name and JSON name",
    mutate: (cfg) => {
      at(cfg, HCM)["statPrefix"] = "other";
    },
    expected: [[`${HCM}.statPrefix`, /^field "stat_prefix" is given twice/]],
  },
  {
    title: "deprecated field (Cluster.http2_protocol_options)",
    mutate: (cfg) => {
      at(cfg, TOLLGATE)["http2_protocol_options"] = {};
    },
    expected: [[`${TOLLGATE}.http2_protocol_options`, /^field "http2_protocol_options" is deprecated$/]],
  },
  {
    title: "PGV string.min_len: empty rate limit domain",
    mutate: (cfg) => {
      at(cfg, RATELIMIT)["domain"] = "";
    },
    expected: [
      [`${RATELIMIT}.domain`, /^must be at least 1 characters long$/],
      [`${HCM}.http_filters[envoy.filters.http.ratelimit].domain`, /^domain must be "tollgate", got $/],
    ],
  },
  {
    title: "PGV duration.required: health check without timeout",
    mutate: (cfg) => {
      delete at(cfg, `${TOLLGATE}.health_checks[0]`)["timeout"];
    },
    expected: [[`${TOLLGATE}.health_checks[0].timeout`, /^timeout is required$/]],
  },
  {
    title: "PGV duration.gt: zero health check interval",
    mutate: (cfg) => {
      at(cfg, `${TOLLGATE}.health_checks[0]`)["interval"] = "0s";
    },
    expected: [[`${TOLLGATE}.health_checks[0].interval`, /^0s must be > 0s$/]],
  },
  {
    title: "PGV uint32.gt: max_request_bytes 0",
    mutate: (cfg) => {
      at(cfg, `${AUTHZ}.with_request_body`)["max_request_bytes"] = 0;
    },
    expected: [
      [`${AUTHZ}.with_request_body.max_request_bytes`, /^0 must be > 0$/],
      [`${HCM}.http_filters[ext_authz].with_request_body`, /^max_request_bytes must be between 1 and 1048576/],
    ],
  },
  {
    title: "PGV enum.defined_only: dns_lookup_family 99",
    mutate: (cfg) => {
      at(cfg, TOLLGATE)["dns_lookup_family"] = 99;
    },
    expected: [[`${TOLLGATE}.dns_lookup_family`, /^99 is not a defined enum value$/]],
  },
  {
    title: "PGV repeated.items: an empty header name to remove",
    mutate: (cfg) => {
      at(cfg, `${ROUTES}[1]`)["request_headers_to_remove"] = [""];
    },
    expected: [
      [`${ROUTES}[1].request_headers_to_remove[0]`, /^must be at least 1 characters long$/],
      [`${ROUTES}[1].request_headers_to_remove[0]`, /^"" is not a valid http header name$/],
    ],
  },
  {
    title: "PGV well_known_regex HTTP_HEADER_NAME: CR/LF in a rate limit header name",
    mutate: (cfg) => {
      unshareRateLimits(cfg, 1);
      at(cfg, `${ROUTES}[1].route.rate_limits[0].actions[0].request_headers`)["header_name"] = "x-tollgate-tenant\r\n";
    },
    expected: [
      [`${ROUTES}[1].route.rate_limits[0].actions[0].request_headers.header_name`, /is not a valid http header name$/],
      [`${ROUTES}[1].route.rate_limits[0].actions[0]`, /^rate limits may only key on headers tollgate sets/],
    ],
  },
  {
    title: "PGV oneof required: health check with no checker",
    mutate: (cfg) => {
      delete at(cfg, `${TOLLGATE}.health_checks[0]`)["grpc_health_check"];
    },
    expected: [
      [`${TOLLGATE}.health_checks[0]`, /^one of http_health_check, tcp_health_check, grpc_health_check, custom_health_check is required/],
      ["clusters.tollgate.health_checks", /^the tollgate cluster must be health-checked with grpc_health_check$/],
    ],
  },
  {
    title: "missing cluster: a route names openai-typo",
    mutate: (cfg) => {
      at(cfg, `${ROUTES}[1].route`)["cluster"] = "openai-typo";
    },
    expected: [
      [`${ROUTES}[1].route.cluster`, /^route "openai" names cluster "openai-typo", which does not exist$/],
      [`${ROUTES}[1].route.cluster`, /^x-tollgate-upstream "openai" must route to cluster "openai", got openai-typo$/],
    ],
  },
  {
    title: "missing cluster: ext_authz points at tolgate",
    mutate: (cfg) => {
      at(cfg, `${AUTHZ}.grpc_service.envoy_grpc`)["cluster_name"] = "tolgate";
    },
    expected: [
      [`${HCM}.http_filters[ext_authz].grpc_service`, /^must point at cluster "tollgate", got tolgate$/],
      [`${HCM}.http_filters[ext_authz].grpc_service`, /^cluster "tolgate" does not exist$/],
    ],
  },
  {
    title: "wrong filter order: the tenant rate limit before authorization",
    mutate: (cfg) => {
      const filters = listAt(cfg, `${HCM}.http_filters`);
      [filters[1], filters[2]] = [filters[2], filters[1]];
    },
    expected: [
      [`${HCM}.http_filters`, /^filters must run RateLimit \(flood guard\), ExtAuthz, RateLimit, ExternalProcessor, Router; found RateLimit, RateLimit, ExtAuthz, ExternalProcessor, Router$/],
      [`${HCM}.http_filters[envoy.filters.http.ratelimit].stage`, /^the flood guard before ext_authz must be stage 1, got 0$/],
      [`${HCM}.http_filters[envoy.filters.http.ratelimit]`, /^enable_x_ratelimit_headers must be OFF on the flood guard/],
    ],
  },
  {
    title: "wrong filter order: the flood guard after authorization (a flood of bad keys costs a Check each)",
    mutate: (cfg) => {
      const filters = listAt(cfg, `${HCM}.http_filters`);
      [filters[0], filters[1]] = [filters[1], filters[0]];
    },
    expected: [
      [`${HCM}.http_filters`, /^filters must run RateLimit \(flood guard\), ExtAuthz, RateLimit, ExternalProcessor, Router; found ExtAuthz, RateLimit, RateLimit, ExternalProcessor, Router$/],
      [`${HCM}.http_filters[flood_guard].stage`, /^the ratelimit filter after ext_authz must be stage 0, got 1$/],
      [`${HCM}.http_filters[flood_guard]`, /^enable_x_ratelimit_headers must be DRAFT_VERSION_03 on the stage-0 filter/],
    ],
  },
  {
    title: "two sources of rate-limit headers: the flood guard adds x-ratelimit-* too",
    mutate: (cfg) => {
      at(cfg, FLOOD_GUARD)["enable_x_ratelimit_headers"] = "DRAFT_VERSION_03";
    },
    expected: [[`${HCM}.http_filters[flood_guard]`, /^enable_x_ratelimit_headers must be OFF on the flood guard \(one source of x-ratelimit-\* per response\), got DRAFT_VERSION_03$/]],
  },
  {
    title: "the flood guard descriptor missing from the catch-all route (the flood guard would never run)",
    mutate: (cfg) => {
      at(cfg, `${ROUTES}[9]`)["route"] = { cluster: "no-upstream" };
    },
    expected: [[`${ROUTES}[9].route.rate_limits`, /^route "no-upstream" is matched before ext_authz: it must carry the stage-1 flood guard descriptor$/]],
  },
  {
    title: "the client address counted again after ext_authz (twice per request)",
    mutate: (cfg) => {
      unshareRateLimits(cfg, 1);
      listAt(cfg, `${ROUTES}[1].route.rate_limits`).push({ actions: [{ generic_key: { descriptor_value: "per_client_ip" } }, { remote_address: {} }] });
    },
    expected: [[`${ROUTES}[1].route.rate_limits[2]`, /^the client address is counted by the flood guard before ext_authz/]],
  },
  {
    title: "the Azure OpenAI route missing",
    mutate: (cfg) => {
      const routes = listAt(cfg, ROUTES);
      routes.splice(routes.findIndex((r) => (r as Record<string, unknown>)["name"] === "azure-openai"), 1);
    },
    expected: [[`${HCM}.route_config`, /^no route for x-tollgate-upstream "azure-openai"$/]],
  },
  {
    title: "wrong filter order: router not last",
    mutate: (cfg) => {
      const filters = listAt(cfg, `${HCM}.http_filters`);
      filters.unshift(filters.pop());
    },
    expected: [[`${HCM}.http_filters`, /found Router, RateLimit, ExtAuthz, RateLimit, ExternalProcessor$/]],
  },
  {
    title: "HTTP/1.1 tollgate cluster (gRPC needs HTTP/2)",
    mutate: (cfg) => {
      const options = at(cfg, `${TOLLGATE}.typed_extension_protocol_options`);
      const key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
      (options[key] as Record<string, unknown>)["explicit_http_config"] = { http_protocol_options: {} };
    },
    expected: [
      ["clusters.tollgate", /^a gRPC cluster must speak HTTP\/2/],
      ["clusters.tollgate", /^a gRPC cluster must speak HTTP\/2/],
      ["clusters.tollgate", /^a gRPC cluster must speak HTTP\/2/],
      ["clusters.tollgate", /^a gRPC cluster must speak HTTP\/2/],
    ],
  },
  {
    title: "ext_authz failing open",
    mutate: (cfg) => {
      at(cfg, AUTHZ)["failure_mode_allow"] = true;
    },
    expected: [[`${HCM}.http_filters[ext_authz]`, /^ext_authz must fail closed/]],
  },
  {
    title: "clear_route_cache off (tollgate could not choose the upstream)",
    mutate: (cfg) => {
      at(cfg, AUTHZ)["clear_route_cache"] = false;
    },
    expected: [[`${HCM}.http_filters[ext_authz]`, /^clear_route_cache must be true/]],
  },
  {
    title: "body limit above what tollgate reads (8 MiB)",
    mutate: (cfg) => {
      at(cfg, `${AUTHZ}.with_request_body`)["max_request_bytes"] = 8 * 1024 * 1024;
    },
    expected: [[`${HCM}.http_filters[ext_authz].with_request_body`, /^max_request_bytes must be between 1 and 1048576 .* got 8388608$/]],
  },
  {
    title: "admin reachable from the network",
    mutate: (cfg) => {
      at(cfg, "admin.address.socket_address")["address"] = "0.0.0.0";
    },
    expected: [["admin.address.socket_address.address", /^admin must listen on loopback only, not 0\.0\.0\.0$/]],
  },
  {
    title: "client-supplied x-tollgate-* headers no longer stripped",
    mutate: (cfg) => {
      delete at(cfg, HCM)["early_header_mutation_extensions"];
    },
    expected: [
      [`${HCM}.early_header_mutation_extensions`, /^client-supplied x-tollgate-tenant must be removed before routing$/],
      [`${HCM}.early_header_mutation_extensions`, /^client-supplied x-tollgate-upstream must be removed before routing$/],
    ],
  },
  {
    title: "provider cluster without TLS",
    mutate: (cfg) => {
      delete at(cfg, "static_resources.clusters[1]")["transport_socket"];
    },
    expected: [["clusters.openai", /^provider clusters must use an UpstreamTlsContext transport socket$/]],
  },
  {
    title: "provider cluster with the wrong SNI",
    mutate: (cfg) => {
      at(cfg, "static_resources.clusters[2].transport_socket.typed_config")["sni"] = "api.openai.com";
    },
    expected: [["clusters.anthropic.transport_socket", /^sni must be api\.anthropic\.com, got api\.openai\.com$/]],
  },
  {
    title: "an upstream tollgate sets has no route",
    mutate: (cfg) => {
      listAt(cfg, ROUTES).splice(4, 1);
    },
    expected: [[`${HCM}.route_config`, /^no route for x-tollgate-upstream "gemini"$/]],
  },
  {
    title: "rate limit keyed on a client-controlled header",
    mutate: (cfg) => {
      unshareRateLimits(cfg, 2);
      at(cfg, `${ROUTES}[2].route.rate_limits[1]`)["actions"] = [{ request_headers: { header_name: "authorization", descriptor_key: "key" } }];
    },
    expected: [[`${ROUTES}[2].route.rate_limits[1].actions[0]`, /^rate limits may only key on headers tollgate sets, not authorization$/]],
  },
  {
    title: "a cluster defined twice",
    mutate: (cfg) => {
      const clusters = listAt(cfg, "static_resources.clusters");
      clusters.push(clone(clusters.find((c) => (c as Record<string, unknown>)["name"] === "mock-llm")));
    },
    expected: [["static_resources.clusters", /^cluster "mock-llm" is defined twice$/]],
  },
];

describe("broken copies of envoy/envoy.yaml are rejected", () => {
  it.each(broken)("$title", ({ mutate, expected }) => {
    const copy = clone(config);
    mutate(copy);
    const issues = validate(copy);
    const summary = issues.map((i) => `${i.path}: ${i.message}`);
    expect(issues, summary.join("\n")).toHaveLength(expected.length);
    for (const [path, pattern] of expected) {
      expect(issues, summary.join("\n")).toContainEqual({ path, message: expect.stringMatching(pattern) });
    }
  });
});
