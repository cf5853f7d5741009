import { readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { TollgateError } from "../errors.js";
import { DEFAULT_HEADER_NAMES } from "../limits/headers.js";
import { parseRedisUrl } from "../limits/redis/redis-url.js";
import { llmSettingsSchema } from "./llm.js";

/** Where a loopback tollgate writes the token for its state-changing admin calls, and where the CLI looks. */
export const DEFAULT_LOCAL_TOKEN_DIR = path.join(os.homedir(), ".tollgate");

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):\d{1,5}$/, "expected host:port");
const bytes = z.coerce.number().int().positive();
const headerName = z.string().regex(/^[A-Za-z0-9-]+$/);

/**
 * Every setting tollgate reads, with its default and its check. Flags, TOLLGATE_* env and a YAML
 * file all feed this one schema; SETTINGS_TABLE (table.ts) names each scalar's flag, env var and help.
 */
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
        limit: headerName.default(DEFAULT_HEADER_NAMES.limit),
        remaining: headerName.default(DEFAULT_HEADER_NAMES.remaining),
        reset: headerName.default(DEFAULT_HEADER_NAMES.reset),
        retryAfter: headerName.default(DEFAULT_HEADER_NAMES.retryAfter),
      })
      .strict()
      .default({ ...DEFAULT_HEADER_NAMES }),
    /** Which paths and hosts are which LLM provider, beyond the built-in ones (YAML file only). */
    llm: llmSettingsSchema.default({}),
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
    /** A loopback admin server without a token writes a generated one for rollback/promote here (admin-<port>.token, 0600). */
    adminLocalTokenDir: z.string().min(1).optional(),
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

/** Every default, as the schema fills them in. */
export const SETTINGS_DEFAULTS: Readonly<Settings> = settingsSchema.parse({});

/** Reads a token or secret file: trimmed, bounded, a config_error naming the setting when unreadable or empty. */
export function readTokenFile(file: string, setting: string): string {
  let text: string;
  try {
    if (statSync(file).size > MAX_TOKEN_FILE_BYTES) throw new Error(`larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new TollgateError("config_error", `${setting} ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (text === "") throw new TollgateError("config_error", `${setting} ${file} is empty`);
  return text;
}

const MAX_TOKEN_FILE_BYTES = 64 * 1024;
