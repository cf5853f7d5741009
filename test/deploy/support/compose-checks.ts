import { existsSync, readFileSync } from "node:fs";
import { TollgateError } from "../../../src/errors.js";
import { settingsFromEnv } from "../../../src/config/env.js";
import { resolveSettings } from "../../../src/config/settings.js";
import { arr, clustersByName, dig, obj } from "./envoy-checks.js";
import { repoPath } from "./repo.js";
import type { Issue } from "./strict-protojson.js";

type Obj = Record<string, unknown>;

/** Compose's variable syntax: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?msg}, ${VAR?msg}. */
const VARIABLE = /\$(?:(\$)|([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})/g;

export interface Interpolated {
  value: unknown;
  /** Every variable name the file refers to. */
  names: Set<string>;
  /** Variables without a value or default (Compose warns and uses ""). */
  unset: Set<string>;
}

/** Substitutes variables in every string, as `docker compose` does before validating. */
export function interpolate(doc: unknown, env: Readonly<Record<string, string>>): Interpolated {
  const names = new Set<string>();
  const unset = new Set<string>();
  const walk = (node: unknown): unknown => {
    if (typeof node === "string") {
      return node.replace(VARIABLE, (_m, dollar: string | undefined, bare: string | undefined, braced: string | undefined, op: string | undefined, arg: string | undefined) => {
        if (dollar) return "$";
        const name = (bare ?? braced)!;
        names.add(name);
        const value = env[name];
        const empty = value === undefined || (op?.startsWith(":") === true && value === "");
        if (op?.endsWith("-")) return empty ? (arg ?? "") : value!;
        if (op?.endsWith("?") && empty) throw new TollgateError("config_error", `required variable ${name} is missing: ${arg ?? ""}`);
        if (value === undefined) unset.add(name);
        return value ?? "";
      });
    }
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node === "object" && node !== null) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
    return node;
  };
  return { value: walk(doc), names, unset };
}

/** KEY=VALUE lines; blank lines and # comments ignored. */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && !line.trimStart().startsWith("#")) out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, "$2");
  }
  return out;
}

export function environmentOf(service: Obj): Record<string, string> {
  const env = service["environment"];
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => String(e).split(/=(.*)/s).slice(0, 2) as [string, string]));
  }
  return Object.fromEntries(Object.entries(obj(env) ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

/** Short-syntax volumes "source:target[:mode]". */
export function mountsOf(service: Obj): { source: string; target: string; readOnly: boolean }[] {
  return arr(service["volumes"]).flatMap((v) => {
    if (typeof v !== "string") return [];
    const [source = "", target = "", mode = ""] = v.split(":");
    return [{ source, target, readOnly: mode.split(",").includes("ro") }];
  });
}

/** "--policies /policies --redis-url x" after the subcommand -> { policies, redisUrl }. */
export function flagsOf(command: unknown): { subcommand: string | undefined; flags: Record<string, string> } {
  const args = arr(command).map(String);
  const flags: Record<string, string> = {};
  for (let i = 1; i < args.length; i += 2) {
    const flag = args[i]!;
    if (!flag.startsWith("--") || args[i + 1] === undefined) throw new TollgateError("config_error", `cannot read flag list at ${flag}`);
    flags[flag.slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())] = args[i + 1]!;
  }
  return { subcommand: args[0], flags };
}

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
}

export interface StackInputs {
  /** Interpolated docker-compose.yml. */
  compose: unknown;
  /** Parsed envoy/envoy.yaml. */
  envoy: unknown;
  /** Dockerfile stage names. */
  stages: readonly string[];
}

/** Cross-checks docker-compose.yml against envoy.yaml, the Dockerfile and tollgate's settings. */
export function checkComposeStack({ compose, envoy, stages }: StackInputs): Issue[] {
  const issues: Issue[] = [];
  const report = (path: string, message: string): void => {
    issues.push({ path, message });
  };
  const services = obj(obj(compose)?.["services"]) ?? {};
  const expected = ["envoy", "tollgate", "redis", "mock-llm"];
  if (JSON.stringify(Object.keys(services).sort()) !== JSON.stringify([...expected].sort())) {
    report("services", `expected services ${expected.join(", ")}; found ${Object.keys(services).join(", ")}`);
  }

  for (const [name, raw] of Object.entries(services)) {
    const service = obj(raw) ?? {};
    const at = `services.${name}`;
    const image = service["image"];
    const build = obj(service["build"]);
    if (!build && (typeof image !== "string" || !/:[^:/]*\d[^:/]*$/.test(image))) report(`${at}.image`, `pin the image to a version tag, got ${String(image)}`);
    if (build) {
      if (build["dockerfile"] !== "Dockerfile") report(`${at}.build`, "build from the repository Dockerfile");
      if (!stages.includes(String(build["target"]))) report(`${at}.build.target`, `no Dockerfile stage named ${String(build["target"])}`);
    }
    const health = obj(service["healthcheck"]);
    if (!health || health["disable"] === true) report(`${at}.healthcheck`, "every service needs a healthcheck");
    for (const [dep, cond] of Object.entries(obj(service["depends_on"]) ?? {})) {
      if (!(dep in services)) report(`${at}.depends_on`, `depends on unknown service ${dep}`);
      else if (obj(cond)?.["condition"] === "service_healthy" && !obj(obj(services[dep])?.["healthcheck"])) {
        report(`${at}.depends_on.${dep}`, `waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      }
    }
    for (const m of mountsOf(service)) {
      if (m.source.startsWith("./") && !existsSync(repoPath(m.source))) report(`${at}.volumes`, `${m.source} does not exist in the repository`);
      if (!m.readOnly) report(`${at}.volumes`, `mount ${m.source} read-only (:ro)`);
    }
  }

  const envoySvc = obj(services["envoy"]) ?? {};
  const command = arr(envoySvc["command"]).map(String);
  const configPath = command[command.indexOf("-c") + 1];
  if (!mountsOf(envoySvc).some((m) => m.source === "./envoy/envoy.yaml" && m.target === configPath)) {
    report("services.envoy.volumes", `./envoy/envoy.yaml must be mounted at ${String(configPath)} (the -c path)`);
  }
  const listenerPort = dig(arr(dig(envoy, "static_resources.listeners"))[0], "address.socket_address.port_value");
  if (!arr(envoySvc["ports"]).some((p) => typeof p === "string" && portOf(p) === listenerPort)) {
    report("services.envoy.ports", `publish Envoy's listener port ${String(listenerPort)}`);
  }

  // Every Envoy cluster that points into the compose network must find its service there.
  for (const [cluster, def] of clustersByName(envoy)) {
    for (const locality of arr(obj(def["load_assignment"])?.["endpoints"])) {
      for (const lb of arr(obj(locality)?.["lb_endpoints"])) {
        const socket = obj(obj(obj(obj(lb)?.["endpoint"])?.["address"])?.["socket_address"]);
        const host = String(socket?.["address"]);
        if (host === "host.docker.internal") {
          // A server on the Docker host (Ollama): Linux Docker needs the host-gateway mapping.
          if (!arr(envoySvc["extra_hosts"]).map(String).includes("host.docker.internal:host-gateway")) {
            report("services.envoy.extra_hosts", `envoy cluster ${cluster} dials host.docker.internal: map it to host-gateway`);
          }
          continue;
        }
        if (host.includes(".")) continue; // a provider on the internet
        const target = obj(services[host]);
        if (!target) {
          report(`envoy cluster ${cluster}`, `endpoint ${host} is not a compose service`);
          continue;
        }
        const port = Number(socket?.["port_value"]);
        const env = environmentOf(target);
        const listens = host === "tollgate" ? portOf(env["TOLLGATE_GRPC_ADDR"] ?? "") : Number(env["PORT"]);
        if (listens !== port) report(`services.${host}.environment`, `envoy cluster ${cluster} dials ${host}:${port}, but the service listens on ${listens}`);
        if (!arr(target["expose"]).map(String).includes(String(port))) report(`services.${host}.expose`, `expose ${port} (envoy cluster ${cluster})`);
      }
    }
  }

  checkTollgate(services, report);
  return issues;
}

function checkTollgate(services: Obj, report: (path: string, message: string) => void): void {
  const tollgate = obj(services["tollgate"]);
  if (!tollgate) return;
  const env = environmentOf(tollgate);
  let parsed: ReturnType<typeof flagsOf>;
  try {
    parsed = flagsOf(tollgate["command"]);
  } catch (err) {
    return report("services.tollgate.command", TollgateError.from(err).message);
  }
  if (parsed.subcommand !== "serve") report("services.tollgate.command", `expected "serve", got ${String(parsed.subcommand)}`);
  let settings: ReturnType<typeof resolveSettings>;
  try {
    settings = resolveSettings({ env: settingsFromEnv(env), flags: parsed.flags });
  } catch (err) {
    return report("services.tollgate", `tollgate would refuse this configuration: ${TollgateError.from(err).message}`);
  }
  if (!settings.grpcAddr.startsWith("0.0.0.0:")) report("services.tollgate.environment", `gRPC must listen on 0.0.0.0 inside the container, got ${settings.grpcAddr}`);
  const mounts = mountsOf(tollgate);
  const mounted = (path: string | undefined, source: string): boolean => mounts.some((m) => m.target === path && m.source === source);
  if (!mounted(settings.policies, "./policies")) report("services.tollgate.volumes", `--policies ${settings.policies} must be the mount of ./policies (hot reload)`);
  if (!mounted(settings.ratelimitConfig, "./ratelimit")) report("services.tollgate.volumes", `--ratelimit-config ${String(settings.ratelimitConfig)} must be the mount of ./ratelimit`);
  const redis = settings.redisUrl ? new URL(settings.redisUrl) : undefined;
  if (!redis || !(redis.hostname in services) || (redis.port || "6379") !== "6379") {
    report("services.tollgate.command", `--redis-url must point at the redis service on 6379, got ${String(settings.redisUrl)}`);
  }
  for (const key of providerKeyNames()) {
    if (!(key in env)) report("services.tollgate.environment", `${key} is not passed to tollgate`);
  }
  // One source of rate-limit headers per response: Envoy's ratelimit filter (x-ratelimit-*).
  if (settings.rateLimitHeaders) report("services.tollgate.environment", "TOLLGATE_RATELIMIT_HEADERS must be false: Envoy's ratelimit filter sends the rate-limit headers");
}

/** The variables the shipped policy's upstream credentials name (policies/data.json, env:NAME). */
export function providerKeyNames(): string[] {
  const data = JSON.parse(readFileSync(repoPath("policies/data.json"), "utf8")) as { gateway: { upstreams: Record<string, { credential: string | null }> } };
  return Object.values(data.gateway.upstreams).flatMap((u) => (u.credential?.startsWith("env:") ? [u.credential.slice(4)] : []));
}
