/** Where things sit in envoy/envoy.yaml, for tests that reach into it. */
export const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
export const HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
export const AUTHZ = `${HCM}.http_filters[0].typed_config`;
export const RATELIMIT = `${HCM}.http_filters[1].typed_config`;
export const EXT_PROC = `${HCM}.http_filters[2].typed_config`;
export const ROUTER = `${HCM}.http_filters[3].typed_config`;
export const ROUTES = `${HCM}.route_config.virtual_hosts[0].routes`;
export const TOLLGATE = "static_resources.clusters[0]";
