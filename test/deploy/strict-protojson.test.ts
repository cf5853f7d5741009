import { beforeAll, describe, expect, it } from "vitest";
import type protobuf from "protobufjs";
import { loadEnvoyRoot } from "./support/envoy-protos.js";
import { decodeStrict, type Issue } from "./support/strict-protojson.js";

let root: protobuf.Root;
beforeAll(() => {
  root = loadEnvoyRoot();
});

const decode = (typeName: string, value: unknown): Issue[] => decodeStrict({ root, typeName, value });

interface Case {
  title: string;
  type: string;
  value: unknown;
  /** [] for accepted values; otherwise every issue, as [path, message pattern]. */
  issues: [string, RegExp][];
}

const SOCKET = "envoy.config.core.v3.SocketAddress";
const HEALTH = "envoy.config.core.v3.HealthCheck";
const CLUSTER = "envoy.config.cluster.v3.Cluster";
const HTTP_REQUEST = "envoy.service.auth.v3.AttributeContext.HttpRequest";
const CONNECTIONS = "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig";
const EXTENSION = "envoy.config.core.v3.TypedExtensionConfig";
const FORMAT = "envoy.config.core.v3.SubstitutionFormatString";
const CHECK_SETTINGS = "envoy.extensions.filters.http.ext_authz.v3.CheckSettings";
const okHealth = { timeout: "1s", interval: "5s", unhealthy_threshold: 2, healthy_threshold: 1, tcp_health_check: {} };

const cases: Case[] = [
  { title: "proto field names are accepted", type: SOCKET, value: { address: "10.0.0.1", port_value: 80 }, issues: [] },
  { title: "JSON (lowerCamel) names are accepted too", type: SOCKET, value: { address: "10.0.0.1", portValue: 80 }, issues: [] },
  { title: "null means unset", type: SOCKET, value: { address: "10.0.0.1", port_value: null, named_port: "http" }, issues: [] },
  { title: "an integer may be a decimal string", type: SOCKET, value: { address: "a", port_value: "8080" }, issues: [] },
  { title: "a fractional integer is rejected", type: SOCKET, value: { address: "a", port_value: 80.5 }, issues: [["port_value", /^expected an integer \(uint32\), got 80\.5$/]] },
  { title: "a negative uint32 is rejected", type: SOCKET, value: { address: "a", port_value: -1 }, issues: [["port_value", /^-1 is out of range for uint32$/]] },
  { title: "enum by name", type: SOCKET, value: { address: "a", port_value: 1, protocol: "UDP" }, issues: [] },
  { title: "enum by number", type: SOCKET, value: { address: "a", port_value: 1, protocol: 1 }, issues: [] },
  { title: "enum name is case-sensitive", type: SOCKET, value: { address: "a", port_value: 1, protocol: "udp" }, issues: [["protocol", /^"udp" is not a value of enum envoy\.config\.core\.v3\.SocketAddress\.Protocol/]] },
  { title: "enum undefined number under defined_only", type: SOCKET, value: { address: "a", port_value: 1, protocol: 7 }, issues: [["protocol", /^7 is not a defined enum value$/]] },
  { title: "a string field rejects a number", type: SOCKET, value: { address: 10, port_value: 1 }, issues: [["address", /^expected a string, got number 10$/]] },
  { title: "a string with a lone surrogate is not valid UTF-8", type: SOCKET, value: { address: "a\uD800b", port_value: 1 }, issues: [["address", /^expected a string/]] },
  { title: "PGV string.min_len applies to an absent field (default \"\")", type: SOCKET, value: { port_value: 1 }, issues: [["address", /^must be at least 1 characters long$/]] },
  { title: "\"@type\" outside an Any", type: SOCKET, value: { "@type": "x", address: "a", port_value: 1 }, issues: [["@type", /belongs only inside a google\.protobuf\.Any/]] },
  { title: "duration with fraction", type: HEALTH, value: { ...okHealth, timeout: "0.250s" }, issues: [] },
  { title: "duration with 9 fractional digits", type: HEALTH, value: { ...okHealth, timeout: "1.000000001s" }, issues: [] },
  { title: "duration with 10 fractional digits", type: HEALTH, value: { ...okHealth, timeout: "1.0000000001s" }, issues: [["timeout", /is not a duration/]] },
  { title: "duration as a bare number", type: HEALTH, value: { ...okHealth, timeout: 1 }, issues: [["timeout", /^expected a duration string such as "1\.5s", got number 1$/]] },
  { title: "duration in minutes (Go style) is not protobuf JSON", type: HEALTH, value: { ...okHealth, timeout: "1m" }, issues: [["timeout", /is not a duration/]] },
  { title: "negative duration under PGV gt 0", type: HEALTH, value: { ...okHealth, interval: "-1s" }, issues: [["interval", /^-1s must be > 0s$/]] },
  { title: "duration beyond 10000 years", type: HEALTH, value: { ...okHealth, timeout: "315576000001s" }, issues: [["timeout", /out of range/]] },
  { title: "wrapper as a plain value", type: HEALTH, value: { ...okHealth, unhealthy_threshold: 3 }, issues: [] },
  { title: "wrapper written as {value: n} is not protobuf JSON", type: HEALTH, value: { ...okHealth, unhealthy_threshold: { value: 3 } }, issues: [["unhealthy_threshold", /^expected an integer \(uint32\), got an object$/]] },
  { title: "PGV message.required on a wrapper", type: HEALTH, value: { timeout: "1s", interval: "1s", healthy_threshold: 1, tcp_health_check: {} }, issues: [["unhealthy_threshold", /^unhealthy_threshold is required$/]] },
  { title: "PGV oneof required", type: HEALTH, value: { timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1 }, issues: [["(root)", /^one of http_health_check, tcp_health_check, grpc_health_check, custom_health_check is required/]] },
  { title: "two members of one oneof", type: HEALTH, value: { ...okHealth, grpc_health_check: {} }, issues: [["(root)", /^only one of tcp_health_check, grpc_health_check may be set \(oneof health_checker\)$/]] },
  { title: "int64 as a string beyond 2^53", type: CONNECTIONS, value: { max_active_downstream_connections: "9007199254740993" }, issues: [] },
  { title: "int64 as an unsafe JSON number", type: CONNECTIONS, value: { max_active_downstream_connections: 9007199254740993 }, issues: [["max_active_downstream_connections", /loses precision/]] },
  { title: "int64 under PGV gt 0", type: CONNECTIONS, value: { max_active_downstream_connections: 0 }, issues: [["max_active_downstream_connections", /^0 must be > 0$/]] },
  { title: "bytes as standard base64", type: HTTP_REQUEST, value: { raw_body: "aGVsbG8=" }, issues: [] },
  { title: "bytes as URL-safe base64 without padding", type: HTTP_REQUEST, value: { raw_body: "-_8" }, issues: [] },
  { title: "bytes that are not base64", type: HTTP_REQUEST, value: { raw_body: "not base64!" }, issues: [["raw_body", /not base64/]] },
  { title: "map<string,string> with a number value", type: HTTP_REQUEST, value: { headers: { a: "1", b: 2 } }, issues: [["headers.b", /^expected a string, got number 2$/]] },
  { title: "a repeated field given a single object", type: CLUSTER, value: { name: "c", health_checks: okHealth }, issues: [["health_checks", /^expected a list, got an object$/]] },
  { title: "null inside a list", type: CLUSTER, value: { name: "c", health_checks: [null] }, issues: [["health_checks[0]", /^list items cannot be null$/]] },
  { title: "Struct holds any JSON", type: FORMAT, value: { json_format: { a: "x", b: 1, c: [true, null, { d: "e" }] } }, issues: [] },
  { title: "Struct rejects a non-finite number", type: FORMAT, value: { json_format: { a: Number.NaN } }, issues: [["json_format.a", /^numbers in a Struct must be finite$/]] },
  { title: "Any holding a message", type: EXTENSION, value: { name: "x", typed_config: { "@type": "type.googleapis.com/envoy.config.core.v3.SocketAddress", address: "a", port_value: 1 } }, issues: [] },
  { title: "Any fields are checked against the named type", type: EXTENSION, value: { name: "x", typed_config: { "@type": "type.googleapis.com/envoy.config.core.v3.SocketAddress", addr: "a", port_value: 1 } }, issues: [["typed_config.addr", /^unknown field "addr"/], ["typed_config.address", /at least 1 characters/]] },
  { title: "Any holding a well-known type uses \"value\"", type: EXTENSION, value: { name: "x", typed_config: { "@type": "type.googleapis.com/google.protobuf.Duration", value: "2s" } }, issues: [] },
  { title: "Any with an unknown type", type: EXTENSION, value: { name: "x", typed_config: { "@type": "type.googleapis.com/envoy.Nope" } }, issues: [["typed_config.@type", /^unresolvable @type "type\.googleapis\.com\/envoy\.Nope"/]] },
  { title: "Any with a type URL that has no slash", type: EXTENSION, value: { name: "x", typed_config: { "@type": "envoy.config.core.v3.SocketAddress" } }, issues: [["typed_config.@type", /^unresolvable @type/]] },
  { title: "PGV map values (context_extensions are plain strings)", type: CHECK_SETTINGS, value: { context_extensions: { route: "llm" } }, issues: [] },
];

describe("strict ProtoJSON decoder", () => {
  it.each(cases)("$title", ({ type, value, issues: expected }) => {
    const issues = decode(type, value);
    const summary = issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    expect(issues, summary).toHaveLength(expected.length);
    for (const [path, pattern] of expected) expect(issues, summary).toContainEqual({ path, message: expect.stringMatching(pattern) });
  });

  it("reports a top-level value that is not an object instead of throwing", () => {
    expect(decode(SOCKET, "10.0.0.1:80")).toEqual([{ path: "(root)", message: 'expected an object for envoy.config.core.v3.SocketAddress, got "10.0.0.1:80"' }]);
    expect(decode(SOCKET, [])).toEqual([{ path: "(root)", message: "expected an object for envoy.config.core.v3.SocketAddress, got a list" }]);
  });

  it("skips PGV rules when asked, keeping type errors", () => {
    expect(decode(SOCKET, {})).toHaveLength(2);
    expect(decodeStrict({ root, typeName: SOCKET, value: {}, validateRules: false })).toEqual([]);
    expect(decodeStrict({ root, typeName: SOCKET, value: { port_value: "x" }, validateRules: false })).toHaveLength(1);
  });
});
