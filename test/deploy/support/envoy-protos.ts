import { existsSync } from "node:fs";
import path from "node:path";
import protobuf from "protobufjs";
import { repoPath } from "./repo.js";

const DEPS = repoPath("node_modules/@grpc/grpc-js-xds/deps");

/** The four proto roots shipped with @grpc/grpc-js-xds, plus protobufjs for google/protobuf/descriptor.proto. */
export const PROTO_INCLUDE_PATHS: readonly string[] = [
  path.join(DEPS, "envoy-api"),
  path.join(DEPS, "googleapis"),
  path.join(DEPS, "xds"),
  path.join(DEPS, "protoc-gen-validate"),
  repoPath("node_modules/protobufjs"),
];

/**
 * Every message type envoy/envoy.yaml names with "@type" (and the two service messages the
 * fixtures use) lives in one of these files. A type not loaded here is "unresolvable" - on
 * purpose: an extension Envoy is not built with, or a typo, must not pass.
 */
export const ENVOY_PROTO_FILES: readonly string[] = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto",
  "envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/formatter/req_without_query/v3/req_without_query.proto",
  "envoy/extensions/http/early_header_mutation/header_mutation/v3/header_mutation.proto",
  "envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections.proto",
  "envoy/service/auth/v3/external_auth.proto",
  "envoy/service/ratelimit/v3/rls.proto",
];

let cached: protobuf.Root | undefined;

/** Loads (once) Envoy's API with proto field names kept as written (snake_case). */
export function loadEnvoyRoot(): protobuf.Root {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (origin: string, target: string): string => {
    for (const dir of PROTO_INCLUDE_PATHS) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}
