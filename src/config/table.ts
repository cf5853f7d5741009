import type { Settings } from "./settings.js";

/** A setting with a flag and an environment variable: the scalar ones. Nested blocks (limits, rateLimitHeaderNames, llm) come from the YAML file. */
export type ScalarKey = { [K in keyof Settings]-?: NonNullable<Settings[K]> extends string | number | boolean ? K : never }[keyof Settings];

export interface SettingRow {
  key: ScalarKey;
  /**
   * Commander's flag spec. Omitted: `--<key in kebab-case>` with a `<value>` placeholder, or a
   * switch for a boolean (`--no-x` when it defaults to true). null: no flag (a secret that must
   * not show in the process list).
   */
  flag?: string | null;
  /** Omitted: TOLLGATE_ and the key in upper snake case. */
  env?: string;
  help: string;
  /** How an unset optional setting reads in --help and the README. */
  unset?: string;
}

/**
 * Every scalar setting once: key, flag, env var, help. Defaults come from the zod schema beside it
 * (settings.ts). The env parser, the commander options of `serve` and `eval`, their --help and
 * the README's configuration table are all generated from this list.
 */
export const SETTINGS_TABLE: readonly SettingRow[] = [
  { key: "grpcAddr", flag: "--grpc-addr <host:port>", help: "gRPC listen address" },
  { key: "httpAddr", flag: "--http-addr <host:port>", help: "admin HTTP listen address" },
  { key: "adminDisabled", flag: "--no-admin", help: "do not start the admin HTTP server" },
  { key: "adminTokenFile", flag: "--admin-token-file <file>", help: "bearer token for the admin API (required off loopback)", unset: "(none)" },
  { key: "adminToken", flag: null, help: "the admin token itself; prefer the token file", unset: "(none)" },
  { key: "adminLocalTokenDir", flag: "--admin-local-token-dir <dir>", help: "a loopback admin API without a token writes a generated one for rollback/promote here (`admin-<port>.token`, 0600)", unset: "~/.tollgate" },
  { key: "policies", flag: "--policies <dir>", help: "folder of `.rego`, data and `*_test.rego`" },
  { key: "decisionPath", flag: "--decision-path <path>", help: "the rule Envoy's decision comes from" },
  { key: "watch", help: "reload policies on change (`--no-watch` turns it off)" },
  { key: "runPolicyTests", flag: "--no-policy-tests", help: "run `opa test` before activating a policy" },
  { key: "dryRun", help: "log denials but allow every request" },
  { key: "onDecisionError", flag: "--on-decision-error <mode>", help: "`error`: answer a gRPC error (Envoy applies `status_on_error`); `deny`: answer 403" },
  { key: "skipRequestBodyParse", help: "leave `parsed_body` out of the input" },
  { key: "secretsDir", flag: "--secrets-dir <dir>", help: "the only folder `${file:...}` secret references may read" },
  { key: "logLevel", flag: "--log-level <level>", help: "pino level: fatal, error, warn, info, debug, trace, silent" },
  { key: "logDecisionInput", help: "add the masked input and result to decision log lines" },
  { key: "logDecisionBody", help: "keep body text (masked) in logged and uploaded decision inputs; removed by default" },
  { key: "metricsTenantLabels", help: "per-tenant Check metrics (first 100 tenants)" },
  { key: "auditFile", flag: "--audit-file <file>", help: "hash-chained audit trail of policy changes", unset: "(none)" },
  { key: "candidatePolicies", flag: "--candidate-policies <dir>", help: "a candidate policies folder evaluated in shadow", unset: "(none)" },
  { key: "shadowSampleRate", flag: "--shadow-sample-rate <0..1>", help: "share of requests the candidate also evaluates" },
  { key: "redisUrl", flag: "--redis-url <url>", help: "`redis://`, `rediss://`, or `redis+cluster://h1:p1,h2:p2`", unset: "(memory)" },
  { key: "redisCommandTimeoutMs", flag: "--redis-command-timeout-ms <ms>", help: "every Redis call's deadline, from write to reply" },
  { key: "ratelimitConfig", flag: "--ratelimit-config <dir>", help: "folder of envoyproxy/ratelimit YAML files, reloaded on change", unset: "(none)" },
  { key: "ratelimitStopIncrementWhenOver", help: "do not count requests already over a limit (envoyproxy/ratelimit's STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT)" },
  { key: "rateLimitHeaders", env: "TOLLGATE_RATELIMIT_HEADERS", help: "send RateLimit-* headers (names under `rateLimitHeaderNames` in the YAML file)" },
  { key: "grpcTlsCertFile", flag: "--grpc-tls-cert <file>", help: "serve gRPC over TLS with this certificate (reloaded on change)", unset: "(plaintext)" },
  { key: "grpcTlsKeyFile", flag: "--grpc-tls-key <file>", help: "private key for `--grpc-tls-cert`", unset: "(none)" },
  { key: "grpcTlsClientCaFile", flag: "--grpc-tls-client-ca <file>", help: "require client certificates signed by this CA (mTLS)", unset: "(none)" },
  { key: "httpTlsCertFile", flag: "--http-tls-cert <file>", help: "serve the admin API over HTTPS with this certificate", unset: "(plaintext)" },
  { key: "httpTlsKeyFile", flag: "--http-tls-key <file>", help: "private key for `--http-tls-cert`", unset: "(none)" },
  { key: "tlsReloadMs", flag: "--tls-reload-ms <ms>", help: "how often certificate files are checked for rotation" },
  { key: "decisionLogUrl", flag: "--decision-log-url <url>", help: "OPA-compatible decision-log service (events POSTed to `<url>/logs`)", unset: "(none)" },
  { key: "decisionLogTokenFile", flag: "--decision-log-token-file <file>", help: "bearer token for the decision-log service", unset: "(none)" },
  { key: "bundleUrl", flag: "--bundle-url <url>", help: "poll an OPA bundle server instead of reading `--policies`", unset: "(none)" },
  { key: "bundleFile", flag: "--bundle-file <file>", help: "serve an OPA bundle file (watched) instead of `--policies`", unset: "(none)" },
  { key: "bundleTokenFile", flag: "--bundle-token-file <file>", help: "bearer token for the bundle server", unset: "(none)" },
  { key: "bundleCaFile", flag: "--bundle-ca-file <file>", help: "CA bundle the bundle server's certificate must chain to", unset: "(system)" },
  { key: "bundleVerificationKeyFile", flag: "--bundle-verification-key <file>", help: "require bundles signed for this public key (PEM) or HMAC secret", unset: "(unsigned)" },
  { key: "bundleSigningAlg", flag: "--bundle-signing-alg <alg>", help: "signature algorithm the verification key is for" },
  { key: "bundleKeyId", flag: "--bundle-key-id <id>", help: "key id the bundle's signature must name" },
  { key: "bundleScope", flag: "--bundle-scope <scope>", help: "scope the bundle's signature must carry", unset: "(none)" },
  { key: "bundleExcludeFiles", flag: "--bundle-exclude-files <patterns>", help: "comma-separated file patterns left out of signature checks", unset: "(none)" },
  { key: "bundleSkipVerification", help: "do not look at bundle signatures at all" },
  { key: "bundleStateDir", flag: "--bundle-state-dir <dir>", help: "keep the last activated bundle here, for restarts while the server is down", unset: "(none)" },
  { key: "bundlePollMinSeconds", flag: "--bundle-poll-min-seconds <s>", help: "shortest wait between bundle polls" },
  { key: "bundlePollMaxSeconds", flag: "--bundle-poll-max-seconds <s>", help: "longest wait between bundle polls" },
  { key: "bundleLongPollSeconds", flag: "--bundle-long-poll-seconds <s>", help: "ask the bundle server to hold each poll this long", unset: "(off)" },
  { key: "reservationKeyFile", flag: "--reservation-key-file <file>", help: "HMAC key signing reservation handles (Check → ext_proc); every replica must share it", unset: "(random per process)" },
  { key: "workers", flag: "--workers <n|auto>", help: "processes serving on the same ports (`auto`: one per core); see [operations](docs/operations.md#every-core---workers)" },
  { key: "shutdownGraceMs", flag: "--shutdown-grace-ms <ms>", help: "SIGTERM drain time" },
];

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function envName(row: SettingRow): string {
  return row.env ?? `TOLLGATE_${kebab(row.key).replace(/-/g, "_").toUpperCase()}`;
}

/** The row's commander flag spec, or undefined when the setting has no flag. */
export function flagSpec(row: SettingRow, defaultValue: unknown): string | undefined {
  if (row.flag === null) return undefined;
  if (row.flag !== undefined) return row.flag;
  if (typeof defaultValue === "boolean") return defaultValue ? `--no-${kebab(row.key)}` : `--${kebab(row.key)}`;
  return `--${kebab(row.key)} <value>`;
}

/** The default as --help and the README show it. */
export function defaultText(row: SettingRow, defaultValue: unknown): string {
  if (defaultValue === undefined) return row.unset ?? "(none)";
  if (typeof defaultValue === "boolean") return defaultValue ? "on" : "off";
  return String(defaultValue);
}
