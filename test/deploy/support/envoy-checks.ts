import type { Issue } from "./strict-protojson.js";

/**
 * Cross-checks of envoy/envoy.yaml that the API alone cannot express: references resolve,
 * filters run in the right order, the tollgate cluster speaks gRPC, and the routing and rate
 * limit wiring matches what tollgate does. Works on the parsed YAML; tolerant of wrong shapes
 * (the strict decoder reports those), so a broken config never makes it throw.
 */

const TYPE = "type.googleapis.com/";
export const HCM_TYPE = `${TYPE}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
export const EXT_AUTHZ_TYPE = `${TYPE}envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`;
export const RATELIMIT_TYPE = `${TYPE}envoy.extensions.filters.http.ratelimit.v3.RateLimit`;
export const EXT_PROC_TYPE = `${TYPE}envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor`;
export const EXT_PROC_PER_ROUTE_TYPE = `${TYPE}envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute`;
export const ROUTER_TYPE = `${TYPE}envoy.extensions.filters.http.router.v3.Router`;
export const UPSTREAM_TLS_TYPE = `${TYPE}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`;
export const HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** What tollgate's side of the contract expects from the Envoy config. */
export const TOLLGATE_CONTRACT = {
  authzCluster: "tollgate",
  authzPort: 9191,
  rateLimitDomain: "tollgate",
  tenantHeader: "x-tollgate-tenant",
  upstreamHeader: "x-tollgate-upstream",
  listenerPort: 10000,
  /** tollgate caps the body it will read (settings limits.maxBodyBytes default). */
  maxBodyBytes: 1024 * 1024,
  /**
   * x-tollgate-upstream value (the cluster names of policies/data.json's upstreams) -> a TLS host
   * on 443, or a plain-HTTP endpoint (the compose network, the Docker host).
   */
  upstreams: {
    openai: "api.openai.com",
    "azure-openai": "your-resource.openai.azure.com",
    anthropic: "api.anthropic.com",
    mistral: "api.mistral.ai",
    gemini: "generativelanguage.googleapis.com",
    ollama: { host: "host.docker.internal", port: 11434 },
    "mock-llm": { host: "mock-llm", port: 8080 },
  } as Readonly<Record<string, string | { host: string; port: number }>>,
  /** The cluster without endpoints that the routes matched while a request is checked forward to. */
  noUpstreamCluster: "no-upstream",
  /** The flood guard: a stage-1 descriptor of the client address alone, sent before ext_authz. */
  floodGuard: { stage: 1, actions: [{ generic_key: { descriptor_value: "per_client_ip" } }, { remote_address: {} }] },
} as const;

type Obj = Record<string, unknown>;

export function obj(value: unknown): Obj | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Obj) : undefined;
}

export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Follows a dotted path of object keys; undefined as soon as a step is missing. */
export function dig(value: unknown, path: string): unknown {
  let at: unknown = value;
  for (const key of path.split(".")) at = obj(at)?.[key];
  return at;
}

export interface RouteInfo {
  name: string;
  path: string;
  route: Obj;
}

/** The HTTP connection managers of all listeners, with their config paths. */
export function connectionManagers(config: unknown): { path: string; hcm: Obj }[] {
  const out: { path: string; hcm: Obj }[] = [];
  arr(dig(config, "static_resources.listeners")).forEach((listener, li) => {
    arr(obj(listener)?.["filter_chains"]).forEach((chain, ci) => {
      arr(obj(chain)?.["filters"]).forEach((filter, fi) => {
        const typed = obj(obj(filter)?.["typed_config"]);
        if (typed?.["@type"] === HCM_TYPE) {
          out.push({ path: `static_resources.listeners[${li}].filter_chains[${ci}].filters[${fi}].typed_config`, hcm: typed });
        }
      });
    });
  });
  return out;
}

export function routesOf(hcm: Obj, hcmPath: string): RouteInfo[] {
  const out: RouteInfo[] = [];
  arr(dig(hcm, "route_config.virtual_hosts")).forEach((vh, vi) => {
    arr(obj(vh)?.["routes"]).forEach((route, ri) => {
      const r = obj(route);
      if (r) out.push({ name: String(r["name"] ?? `#${ri}`), path: `${hcmPath}.route_config.virtual_hosts[${vi}].routes[${ri}]`, route: r });
    });
  });
  return out;
}

export function clustersByName(config: unknown): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const c of arr(dig(config, "static_resources.clusters"))) {
    const cluster = obj(c);
    if (typeof cluster?.["name"] === "string") out.set(cluster["name"], cluster);
  }
  return out;
}

export function httpFilters(hcm: Obj): { name: string; type: unknown; config: Obj | undefined }[] {
  return arr(hcm["http_filters"]).map((f) => {
    const typed = obj(obj(f)?.["typed_config"]);
    return { name: String(obj(f)?.["name"]), type: typed?.["@type"], config: typed };
  });
}

/** The x-tollgate-upstream value a route requires, if it matches on that header. */
export function upstreamOfRoute(route: Obj, header: string): string | undefined {
  for (const h of arr(dig(route, "match.headers"))) {
    const matcher = obj(h);
    if (matcher?.["name"] === header) {
      const exact = dig(matcher, "string_match.exact") ?? matcher["exact_match"];
      return typeof exact === "string" ? exact : undefined;
    }
  }
  return undefined;
}

function speaksHttp2(cluster: Obj): boolean {
  const options = obj(obj(cluster["typed_extension_protocol_options"])?.[HTTP_OPTIONS_KEY]);
  return obj(dig(options, "explicit_http_config.http2_protocol_options")) !== undefined || obj(cluster["http2_protocol_options"]) !== undefined;
}

function endpointsOf(cluster: Obj): { address: unknown; port: unknown }[] {
  const out: { address: unknown; port: unknown }[] = [];
  for (const locality of arr(dig(cluster, "load_assignment.endpoints"))) {
    for (const lb of arr(obj(locality)?.["lb_endpoints"])) {
      const socket = obj(dig(lb, "endpoint.address.socket_address"));
      out.push({ address: socket?.["address"], port: socket?.["port_value"] });
    }
  }
  return out;
}

export function checkEnvoySemantics(config: unknown): Issue[] {
  const issues: Issue[] = [];
  const report = (path: string, message: string): void => {
    issues.push({ path, message });
  };
  const c = TOLLGATE_CONTRACT;
  const clusters = clustersByName(config);
  const names = arr(dig(config, "static_resources.clusters")).map((x) => obj(x)?.["name"]);
  for (const name of new Set(names.filter((n, i) => names.indexOf(n) !== i))) report("static_resources.clusters", `cluster "${String(name)}" is defined twice`);

  const admin = obj(dig(config, "admin.address.socket_address"));
  if (admin && admin["address"] !== "127.0.0.1" && admin["address"] !== "::1") {
    report("admin.address.socket_address.address", `admin must listen on loopback only, not ${String(admin["address"])}`);
  }
  const listenerPorts = arr(dig(config, "static_resources.listeners")).map((l) => dig(l, "address.socket_address.port_value"));
  if (!listenerPorts.includes(c.listenerPort)) report("static_resources.listeners", `no listener on port ${c.listenerPort}`);

  const managers = connectionManagers(config);
  if (managers.length === 0) report("static_resources.listeners", "no HTTP connection manager found");
  for (const { path, hcm } of managers) {
    checkFilters(hcm, path, clusters, report);
    checkRoutes(hcm, path, clusters, report);
    const removed = arr(hcm["early_header_mutation_extensions"]).flatMap((ext) => arr(dig(ext, "typed_config.mutations")).map((m) => obj(m)?.["remove"]));
    for (const header of [c.tenantHeader, c.upstreamHeader]) {
      if (!removed.includes(header)) report(`${path}.early_header_mutation_extensions`, `client-supplied ${header} must be removed before routing`);
    }
  }

  const tollgate = clusters.get(c.authzCluster);
  if (tollgate) {
    const healthChecks = arr(tollgate["health_checks"]);
    if (!healthChecks.some((h) => obj(obj(h)?.["grpc_health_check"]) !== undefined)) {
      report(`clusters.${c.authzCluster}.health_checks`, "the tollgate cluster must be health-checked with grpc_health_check");
    }
    if (!endpointsOf(tollgate).some((e) => e.address === c.authzCluster && e.port === c.authzPort)) {
      report(`clusters.${c.authzCluster}.load_assignment`, `expected endpoint ${c.authzCluster}:${c.authzPort}`);
    }
  }
  checkUpstreamClusters(clusters, report);
  const none = clusters.get(c.noUpstreamCluster);
  if (!none) report("static_resources.clusters", `cluster "${c.noUpstreamCluster}" is missing (routes matched while a request is checked forward to it)`);
  else if (endpointsOf(none).length > 0) report(`clusters.${c.noUpstreamCluster}`, "must have no endpoints: a request allowed without a known upstream goes nowhere");
  return issues;
}

type Report = (path: string, message: string) => void;

function checkFilters(hcm: Obj, path: string, clusters: Map<string, Obj>, report: Report): void {
  const c = TOLLGATE_CONTRACT;
  const filters = httpFilters(hcm);
  const order = filters.map((f) => f.type);
  const expected = [RATELIMIT_TYPE, EXT_AUTHZ_TYPE, RATELIMIT_TYPE, EXT_PROC_TYPE, ROUTER_TYPE];
  if (JSON.stringify(order) !== JSON.stringify(expected)) {
    const short = (t: unknown): string => String(t).split(".").at(-1) ?? String(t);
    report(`${path}.http_filters`, `filters must run RateLimit (flood guard), ExtAuthz, RateLimit, ExternalProcessor, Router; found ${order.map(short).join(", ")}`);
  }
  const authz = filters.find((f) => f.type === EXT_AUTHZ_TYPE)?.config;
  if (authz) {
    const at = `${path}.http_filters[ext_authz]`;
    checkGrpcCluster(dig(authz, "grpc_service.envoy_grpc.cluster_name"), `${at}.grpc_service`, clusters, report);
    if (authz["transport_api_version"] !== "V3") report(at, "ext_authz must use transport_api_version V3");
    if (authz["failure_mode_allow"] === true) report(at, "ext_authz must fail closed (failure_mode_allow false)");
    if (authz["clear_route_cache"] !== true) report(at, "clear_route_cache must be true: tollgate's x-tollgate-upstream selects the route");
    if (obj(authz["status_on_error"]) === undefined) report(at, "status_on_error should be set so outages do not look like denials");
    const max = dig(authz, "with_request_body.max_request_bytes");
    if (typeof max !== "number" || max <= 0 || max > c.maxBodyBytes) {
      report(`${at}.with_request_body`, `max_request_bytes must be between 1 and ${c.maxBodyBytes} (tollgate's body limit), got ${String(max)}`);
    }
  }
  const extProc = filters.find((f) => f.type === EXT_PROC_TYPE)?.config;
  if (extProc) checkExtProc(extProc, `${path}.http_filters[ext_proc]`, clusters, report);
  const authzAt = filters.findIndex((f) => f.type === EXT_AUTHZ_TYPE);
  filters.forEach((f, i) => {
    if (f.type !== RATELIMIT_TYPE || !f.config) return;
    const ratelimit = f.config;
    const guard = authzAt >= 0 && i < authzAt;
    const at = `${path}.http_filters[${f.name}]`;
    checkGrpcCluster(dig(ratelimit, "rate_limit_service.grpc_service.envoy_grpc.cluster_name"), `${at}.rate_limit_service`, clusters, report);
    if (dig(ratelimit, "rate_limit_service.transport_api_version") !== "V3") report(at, "rate_limit_service must use transport_api_version V3");
    if (ratelimit["domain"] !== c.rateLimitDomain) report(`${at}.domain`, `domain must be "${c.rateLimitDomain}", got ${String(ratelimit["domain"])}`);
    const stage = ratelimit["stage"] ?? 0;
    if (stage !== (guard ? c.floodGuard.stage : 0)) report(`${at}.stage`, `${guard ? "the flood guard before ext_authz" : "the ratelimit filter after ext_authz"} must be stage ${guard ? c.floodGuard.stage : 0}, got ${String(stage)}`);
    // One source of rate-limit headers per response: the stage-0 filter (tollgate adds none, see docker-compose.yml).
    const headers = ratelimit["enable_x_ratelimit_headers"] ?? "OFF";
    if (headers !== (guard ? "OFF" : "DRAFT_VERSION_03")) report(at, `enable_x_ratelimit_headers must be ${guard ? "OFF on the flood guard" : "DRAFT_VERSION_03 on the stage-0 filter"} (one source of x-ratelimit-* per response), got ${String(headers)}`);
  });
}

/** The ext_proc settings tollgate's server is written for (docs/ext-proc.md). */
export const EXT_PROC_CONTRACT = {
  processingMode: {
    request_header_mode: "SKIP",
    request_body_mode: "NONE",
    request_trailer_mode: "SKIP",
    response_header_mode: "SEND",
    response_body_mode: "STREAMED",
    response_trailer_mode: "SEND",
  },
  forwarding: "envoy.filters.http.ext_authz",
  receiving: "tollgate.usage",
} as const;

function checkExtProc(extProc: Obj, at: string, clusters: Map<string, Obj>, report: Report): void {
  const c = EXT_PROC_CONTRACT;
  checkGrpcCluster(dig(extProc, "grpc_service.envoy_grpc.cluster_name"), `${at}.grpc_service`, clusters, report);
  const mode = obj(extProc["processing_mode"]) ?? {};
  for (const [field, value] of Object.entries(c.processingMode)) {
    if (mode[field] !== value) report(`${at}.processing_mode.${field}`, `must be ${value} (tollgate reads response headers and streamed body chunks only), got ${String(mode[field] ?? "unset")}`);
  }
  if (!arr(dig(extProc, "metadata_options.forwarding_namespaces.untyped")).includes(c.forwarding)) {
    report(`${at}.metadata_options`, `forwarding_namespaces.untyped must include ${c.forwarding}: the reservation Check wrote travels there`);
  }
  if (!arr(dig(extProc, "metadata_options.receiving_namespaces.untyped")).includes(c.receiving)) {
    report(`${at}.metadata_options`, `receiving_namespaces.untyped must include ${c.receiving}: tollgate writes the response's usage there`);
  }
  if (extProc["message_timeout"] === undefined) report(at, "message_timeout must be set deliberately (Envoy's default is 200 ms)");
  if (extProc["failure_mode_allow"] !== true) report(at, "ext_proc must fail open (failure_mode_allow true): the provider has already answered; the reservation stands");
  if (extProc["allow_mode_override"] !== true) report(at, "allow_mode_override must be true: tollgate skips bodies it has nothing to count");
  if (extProc["observability_mode"] === true) report(at, "observability_mode ignores tollgate's answers: streams could not be stopped");
}

function checkGrpcCluster(name: unknown, path: string, clusters: Map<string, Obj>, report: Report): void {
  if (name !== TOLLGATE_CONTRACT.authzCluster) report(path, `must point at cluster "${TOLLGATE_CONTRACT.authzCluster}", got ${String(name)}`);
  const cluster = typeof name === "string" ? clusters.get(name) : undefined;
  if (!cluster) return report(path, `cluster "${String(name)}" does not exist`);
  if (!speaksHttp2(cluster)) report(`clusters.${String(name)}`, "a gRPC cluster must speak HTTP/2 (explicit_http_config.http2_protocol_options)");
}

function checkRoutes(hcm: Obj, path: string, clusters: Map<string, Obj>, report: Report): void {
  const c = TOLLGATE_CONTRACT;
  const routes = routesOf(hcm, path);
  const seen = new Map<string, string>();
  for (const { name, path: at, route } of routes) {
    const target = dig(route, "route.cluster");
    if (target !== undefined && (typeof target !== "string" || !clusters.has(target))) report(`${at}.route.cluster`, `route "${name}" names cluster "${String(target)}", which does not exist`);
    for (const w of arr(dig(route, "route.weighted_clusters.clusters"))) {
      const n = obj(w)?.["name"];
      if (typeof n !== "string" || !clusters.has(n)) report(`${at}.route.weighted_clusters`, `cluster "${String(n)}" does not exist`);
    }
    if ((route["direct_response"] !== undefined && route["route"] === undefined) || target === c.noUpstreamCluster) {
      const perRoute = obj(dig(route, "typed_per_filter_config"))?.["envoy.filters.http.ext_proc"];
      if (obj(perRoute)?.["@type"] !== EXT_PROC_PER_ROUTE_TYPE || obj(perRoute)?.["disabled"] !== true) {
        report(`${at}.typed_per_filter_config`, `route "${name}" answers itself: ext_proc must be disabled there (Envoy's own replies carry no usage)`);
      }
    }
    const upstream = upstreamOfRoute(route, c.upstreamHeader);
    if (upstream === undefined) {
      // Matched while the flood guard runs: it must find the client-address descriptor here
      // (a direct response has no cluster, and Envoy's ratelimit filter skips such routes).
      if (route["route"] !== undefined && !arr(dig(route, "route.rate_limits")).some((l) => JSON.stringify(l) === JSON.stringify(c.floodGuard))) {
        report(`${at}.route.rate_limits`, `route "${name}" is matched before ext_authz: it must carry the stage-${c.floodGuard.stage} flood guard descriptor`);
      }
      continue;
    }
    if (seen.has(upstream)) report(at, `upstream "${upstream}" is routed twice (also by route "${seen.get(upstream)}")`);
    seen.set(upstream, name);
    if (!(upstream in c.upstreams)) report(at, `"${upstream}" is not an upstream tollgate sets`);
    if (target !== upstream) report(`${at}.route.cluster`, `x-tollgate-upstream "${upstream}" must route to cluster "${upstream}", got ${String(target)}`);
    const host = c.upstreams[upstream];
    if (typeof host === "string" && dig(route, "route.host_rewrite_literal") !== host) report(`${at}.route`, `route "${name}" must rewrite :authority to ${host}`);
    checkRateLimits(arr(dig(route, "route.rate_limits")), `${at}.route.rate_limits`, report);
  }
  for (const upstream of Object.keys(c.upstreams)) {
    if (!seen.has(upstream)) report(`${path}.route_config`, `no route for x-tollgate-upstream "${upstream}"`);
  }
}

function checkRateLimits(limits: unknown[], path: string, report: Report): void {
  const c = TOLLGATE_CONTRACT;
  if (limits.length === 0) return report(path, "provider routes must carry rate_limits");
  let tenantFirst = false;
  limits.forEach((limit, i) => {
    const actions = arr(obj(limit)?.["actions"]);
    actions.forEach((action, j) => {
      const header = dig(action, "request_headers.header_name");
      if (header !== undefined && header !== c.tenantHeader && header !== c.upstreamHeader) {
        report(`${path}[${i}].actions[${j}]`, `rate limits may only key on headers tollgate sets, not ${String(header)}`);
      }
    });
    if (dig(actions[0], "request_headers.header_name") === c.tenantHeader) tenantFirst = true;
    if ((obj(limit)?.["stage"] ?? 0) === 0 && actions.some((a) => obj(a)?.["remote_address"] !== undefined)) {
      report(`${path}[${i}]`, "the client address is counted by the flood guard before ext_authz; counting it again after would charge each request twice");
    }
  });
  if (!tenantFirst) report(path, `no descriptor starts with ${c.tenantHeader}`);
}

function checkUpstreamClusters(clusters: Map<string, Obj>, report: Report): void {
  for (const [name, host] of Object.entries(TOLLGATE_CONTRACT.upstreams)) {
    const cluster = clusters.get(name);
    if (!cluster) continue; // reported by the route check
    const at = `clusters.${name}`;
    const endpoints = endpointsOf(cluster);
    const tls = obj(dig(cluster, "transport_socket.typed_config"));
    if (typeof host !== "string") {
      if (!endpoints.some((e) => e.address === host.host && e.port === host.port)) report(at, `expected endpoint ${host.host}:${host.port}`);
      if (tls) report(at, `${name} speaks plain HTTP; no TLS`);
      continue;
    }
    if (!endpoints.some((e) => e.address === host && e.port === 443)) report(at, `expected endpoint ${host}:443`);
    if (tls?.["@type"] !== UPSTREAM_TLS_TYPE) {
      report(at, "provider clusters must use an UpstreamTlsContext transport socket");
      continue;
    }
    if (tls["sni"] !== host) report(`${at}.transport_socket`, `sni must be ${host}, got ${String(tls["sni"])}`);
    const sans = arr(dig(tls, "common_tls_context.validation_context.match_typed_subject_alt_names"));
    if (!sans.some((s) => dig(s, "matcher.exact") === host)) report(`${at}.transport_socket`, `the certificate must be checked against ${host}`);
    if (dig(tls, "common_tls_context.validation_context.trusted_ca") === undefined) report(`${at}.transport_socket`, "trusted_ca must be set (no CA, no verification)");
  }
}
