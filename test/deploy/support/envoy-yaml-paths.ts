/** Where things sit in envoy/envoy.yaml, for tests that reach into it. */
export const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
export const HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
export const FILTERS = `${HCM}.http_filters`;
export const FLOOD_GUARD = `${FILTERS}[0].typed_config`;
export const AUTHZ = `${FILTERS}[1].typed_config`;
export const RATELIMIT = `${FILTERS}[2].typed_config`;
export const EXT_PROC = `${FILTERS}[3].typed_config`;
export const ROUTER = `${FILTERS}[4].typed_config`;
export const ROUTES = `${HCM}.route_config.virtual_hosts[0].routes`;
export const TOLLGATE = "static_resources.clusters[0]";
