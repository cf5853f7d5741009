import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { TollgateError } from "../errors.js";
import { parseRedisUrl } from "../limits/redis/redis-url.js";

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):\d{1,5}$/, "expected host:port");
const bytes = z.coerce.number().int().positive();

/** Every setting tollgate reads, with its default. Flags, TOLLGATE_* env and a YAML file all feed this one schema. */
export const settingsSchema = z
  .object({
    grpcAddr: hostPort.default("127.0.0.1:9191"),
    httpAddr: hostPort.default("127.0.0.1:8181"),
    policies: z.string().min(1).default("policies"),
    decisionPath: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/, "expected a slash-separated rule path such as envoy/authz/allow")
      .default("envoy/authz/allow"),
    dryRun: z.coerce.boolean().default(false),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    skipRequestBodyParse: z.coerce.boolean().default(false),
    /** When a decision is undefined or ill-typed: "error" answers a gRPC error (Envoy then applies status_on_error); "deny" answers a 403 denial. */
    onDecisionError: z.enum(["error", "deny"]).default("error"),
    /** Adds the (masked) input and result to each decision log line; data.system.log.mask applies. */
    logDecisionInput: z.coerce.boolean().default(false),
    /** Keeps body text (raw body, parsed body, input.llm.texts), masked, in logged and uploaded decision inputs; by default it is removed. */
    logDecisionBody: z.coerce.boolean().default(false),
    /** Label Check metrics by tenant (dynamic_metadata.tenant); bounded to the first 100 tenants. */
    metricsTenantLabels: z.coerce.boolean().default(false),
    watch: z.coerce.boolean().default(true),
    runPolicyTests: z.coerce.boolean().default(true),
    redisUrl: z
      .string()
      .refine((url) => {
        try {
          parseRedisUrl(url);
          return true;
        } catch {
          return false;
        }
      }, "expected redis://host:port, rediss://host:port or redis+cluster://h1:p1,h2:p2")
      .optional(),
    redisCommandTimeoutMs: z.coerce.number().int().positive().max(10_000).default(50),
    ratelimitConfig: z.string().optional(),
    ratelimitStopIncrementWhenOver: z.coerce.boolean().default(false),
    rateLimitHeaders: z.coerce.boolean().default(true),
    /** Header names for rate-limit answers (ShouldRateLimit and policy limits). */
    rateLimitHeaderNames: z
      .object({
        limit: z.string().regex(/^[A-Za-z0-9-]+$/).default("ratelimit-limit"),
        remaining: z.string().regex(/^[A-Za-z0-9-]+$/).default("ratelimit-remaining"),
        reset: z.string().regex(/^[A-Za-z0-9-]+$/).default("ratelimit-reset"),
        retryAfter: z.string().regex(/^[A-Za-z0-9-]+$/).default("retry-after"),
      })
      .strict()
      .default({ limit: "ratelimit-limit", remaining: "ratelimit-remaining", reset: "ratelimit-reset", retryAfter: "retry-after" }),
    limits: z
      .object({
        maxMessageBytes: bytes.default(4 * 1024 * 1024),
        maxBodyBytes: bytes.default(1024 * 1024),
        maxHeaderCount: bytes.default(256),
        maxHeaderBytes: bytes.default(64 * 1024),
        maxPathBytes: bytes.default(16 * 1024),
        /** Parsed bodies (JSON, forms) and metadata Structs: nesting, array length, keys per object. */
        maxJsonDepth: bytes.default(64),
        maxJsonArrayLength: bytes.default(10_000),
        maxJsonKeys: bytes.default(1_000),
        /** context_extensions, peer labels, metadata namespaces. */
        maxMapEntries: bytes.default(256),
        maxMapBytes: bytes.default(64 * 1024),
      })
      .strict()
      .default({
        maxMessageBytes: 4 * 1024 * 1024,
        maxBodyBytes: 1024 * 1024,
        maxHeaderCount: 256,
        maxHeaderBytes: 64 * 1024,
        maxPathBytes: 16 * 1024,
        maxJsonDepth: 64,
        maxJsonArrayLength: 10_000,
        maxJsonKeys: 1_000,
        maxMapEntries: 256,
        maxMapBytes: 64 * 1024,
      }),
    shutdownGraceMs: z.coerce.number().int().nonnegative().default(10_000),
    /** Processes serving on the same ports (node:cluster): a count, or "auto" for one per core. 1 runs no primary. */
    workers: z.union([z.literal("auto"), z.coerce.number().int().min(1).max(64)]).default(1),
    /** Append-only, hash-chained record of every policy activation, rejection, rollback and promotion. */
    auditFile: z.string().min(1).optional(),
    /** The only folder ${file:...} secret references in a policy may read from. */
    secretsDir: z.string().min(1).default("/run/secrets"),
    /** A candidate policies folder evaluated beside the active one on live traffic (shadow mode). */
    candidatePolicies: z.string().min(1).optional(),
    /** Share of requests the candidate also evaluates, 0..1. */
    shadowSampleRate: z.coerce.number().min(0).max(1).default(1),
    /** Bearer token for the admin API; required when httpAddr is not loopback. Prefer adminTokenFile. */
    adminToken: z.string().min(16, "must be at least 16 characters").optional(),
    adminTokenFile: z.string().min(1).optional(),
    /** HMAC key for reservation handles (Check → ext_proc); every replica must share it. Unset: a random key per process. */
    reservationKeyFile: z.string().min(1).optional(),
    /** Admin server off entirely. */
    adminDisabled: z.coerce.boolean().default(false),
    grpcTlsCertFile: z.string().min(1).optional(),
    grpcTlsKeyFile: z.string().min(1).optional(),
    /** CA bundle for client certificates: set it to require mTLS. */
    grpcTlsClientCaFile: z.string().min(1).optional(),
    httpTlsCertFile: z.string().min(1).optional(),
    httpTlsKeyFile: z.string().min(1).optional(),
    tlsReloadMs: z.coerce.number().int().min(100).default(2000),
    /** OPA-compatible decision-log service: events are POSTed, gzipped, to <url>/logs. */
    decisionLogUrl: z.string().url().optional(),
    decisionLogTokenFile: z.string().min(1).optional(),
    /** An OPA bundle server URL (polled) or a bundle file (watched) replaces the policies folder. */
    bundleUrl: z.string().url().optional(),
    bundleFile: z.string().min(1).optional(),
    bundleTokenFile: z.string().min(1).optional(),
    bundleCaFile: z.string().min(1).optional(),
    /** Public key (PEM) or HMAC secret file; set it to require signed bundles. */
    bundleVerificationKeyFile: z.string().min(1).optional(),
    bundleSigningAlg: z.string().default("RS256"),
    bundleKeyId: z.string().default("default"),
    bundleScope: z.string().optional(),
    /** Comma-separated file patterns left out of signature checks. */
    bundleExcludeFiles: z.string().optional(),
    bundleSkipVerification: z.coerce.boolean().default(false),
    /** Where the last activated bundle is kept, so a restart while the server is down still serves it. */
    bundleStateDir: z.string().min(1).optional(),
    bundlePollMinSeconds: z.coerce.number().int().positive().default(60),
    bundlePollMaxSeconds: z.coerce.number().int().positive().default(120),
    bundleLongPollSeconds: z.coerce.number().int().positive().optional(),
  })
  .strict()
  .refine((s) => (s.grpcTlsCertFile === undefined) === (s.grpcTlsKeyFile === undefined), { message: "set both grpcTlsCertFile and grpcTlsKeyFile", path: ["grpcTlsCertFile"] })
  .refine((s) => s.grpcTlsClientCaFile === undefined || s.grpcTlsCertFile !== undefined, { message: "client certificates need grpcTlsCertFile and grpcTlsKeyFile", path: ["grpcTlsClientCaFile"] })
  .refine((s) => (s.httpTlsCertFile === undefined) === (s.httpTlsKeyFile === undefined), { message: "set both httpTlsCertFile and httpTlsKeyFile", path: ["httpTlsCertFile"] })
  .refine((s) => !(s.bundleUrl && s.bundleFile), { message: "set bundleUrl or bundleFile, not both", path: ["bundleUrl"] })
  .refine((s) => s.bundlePollMinSeconds <= s.bundlePollMaxSeconds, { message: "must not exceed bundlePollMaxSeconds", path: ["bundlePollMinSeconds"] });

export type Settings = z.infer<typeof settingsSchema>;
export type SettingsInput = z.input<typeof settingsSchema>;

const ENV_KEYS: Record<string, keyof Settings> = {
  TOLLGATE_GRPC_ADDR: "grpcAddr",
  TOLLGATE_HTTP_ADDR: "httpAddr",
  TOLLGATE_POLICIES: "policies",
  TOLLGATE_DECISION_PATH: "decisionPath",
  TOLLGATE_DRY_RUN: "dryRun",
  TOLLGATE_LOG_LEVEL: "logLevel",
  TOLLGATE_SKIP_REQUEST_BODY_PARSE: "skipRequestBodyParse",
  TOLLGATE_ON_DECISION_ERROR: "onDecisionError",
  TOLLGATE_LOG_DECISION_INPUT: "logDecisionInput",
  TOLLGATE_LOG_DECISION_BODY: "logDecisionBody",
  TOLLGATE_METRICS_TENANT_LABELS: "metricsTenantLabels",
  TOLLGATE_WATCH: "watch",
  TOLLGATE_RUN_POLICY_TESTS: "runPolicyTests",
  TOLLGATE_REDIS_URL: "redisUrl",
  TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: "redisCommandTimeoutMs",
  TOLLGATE_RATELIMIT_CONFIG: "ratelimitConfig",
  TOLLGATE_RATELIMIT_STOP_INCREMENT_WHEN_OVER: "ratelimitStopIncrementWhenOver",
  TOLLGATE_RATELIMIT_HEADERS: "rateLimitHeaders",
  TOLLGATE_SHUTDOWN_GRACE_MS: "shutdownGraceMs",
  TOLLGATE_WORKERS: "workers",
  TOLLGATE_AUDIT_FILE: "auditFile",
  TOLLGATE_SECRETS_DIR: "secretsDir",
  TOLLGATE_CANDIDATE_POLICIES: "candidatePolicies",
  TOLLGATE_SHADOW_SAMPLE_RATE: "shadowSampleRate",
  TOLLGATE_ADMIN_TOKEN: "adminToken",
  TOLLGATE_ADMIN_TOKEN_FILE: "adminTokenFile",
  TOLLGATE_RESERVATION_KEY_FILE: "reservationKeyFile",
  TOLLGATE_ADMIN_DISABLED: "adminDisabled",
  TOLLGATE_GRPC_TLS_CERT_FILE: "grpcTlsCertFile",
  TOLLGATE_GRPC_TLS_KEY_FILE: "grpcTlsKeyFile",
  TOLLGATE_GRPC_TLS_CLIENT_CA_FILE: "grpcTlsClientCaFile",
  TOLLGATE_HTTP_TLS_CERT_FILE: "httpTlsCertFile",
  TOLLGATE_HTTP_TLS_KEY_FILE: "httpTlsKeyFile",
  TOLLGATE_TLS_RELOAD_MS: "tlsReloadMs",
  TOLLGATE_DECISION_LOG_URL: "decisionLogUrl",
  TOLLGATE_DECISION_LOG_TOKEN_FILE: "decisionLogTokenFile",
  TOLLGATE_BUNDLE_URL: "bundleUrl",
  TOLLGATE_BUNDLE_FILE: "bundleFile",
  TOLLGATE_BUNDLE_TOKEN_FILE: "bundleTokenFile",
  TOLLGATE_BUNDLE_CA_FILE: "bundleCaFile",
  TOLLGATE_BUNDLE_VERIFICATION_KEY_FILE: "bundleVerificationKeyFile",
  TOLLGATE_BUNDLE_SIGNING_ALG: "bundleSigningAlg",
  TOLLGATE_BUNDLE_KEY_ID: "bundleKeyId",
  TOLLGATE_BUNDLE_SCOPE: "bundleScope",
  TOLLGATE_BUNDLE_EXCLUDE_FILES: "bundleExcludeFiles",
  TOLLGATE_BUNDLE_SKIP_VERIFICATION: "bundleSkipVerification",
  TOLLGATE_BUNDLE_STATE_DIR: "bundleStateDir",
  TOLLGATE_BUNDLE_POLL_MIN_SECONDS: "bundlePollMinSeconds",
  TOLLGATE_BUNDLE_POLL_MAX_SECONDS: "bundlePollMaxSeconds",
  TOLLGATE_BUNDLE_LONG_POLL_SECONDS: "bundleLongPollSeconds",
};

/** Env booleans are strings; z.coerce.boolean would read "false" as true. */
function envValue(raw: string): string | boolean {
  if (raw === "true") return true;
  if (raw === "false") return false;
  return raw;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== "") out[key] = envValue(raw);
  }
  return out;
}

export function settingsFromFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new TollgateError("config_error", `config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const doc: unknown = parseYaml(text);
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new TollgateError("config_error", `config file ${file}: expected a mapping at the top level`);
  return doc as Record<string, unknown>;
}

/** Merges file < env < flags and validates. A bad value gives one line naming the key. */
export function resolveSettings(layers: { file?: Record<string, unknown>; env?: Record<string, unknown>; flags?: Record<string, unknown> }): Settings {
  const defined = (o: Record<string, unknown> = {}) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const merged = { ...defined(layers.file), ...defined(layers.env), ...defined(layers.flags) };
  const result = settingsSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join(".") || "(root)";
    throw new TollgateError("config_error", `invalid setting ${key}: ${issue.message}`);
  }
  return result.data;
}
