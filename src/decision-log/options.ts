import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { TlsOptions } from "./upload.js";

export interface DecisionLogSinkOptions {
  /** Decision-log service base URL (OPA's services[].url), http or https. */
  url: string;
  /** Path under url that receives uploads (OPA's decision_logs.resource); default "/logs". */
  resource?: string;
  /** Sent as `Authorization: <bearerScheme> <bearerToken>` (OPA's credentials.bearer). */
  bearerToken?: string;
  bearerScheme?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  tls?: TlsOptions;
  /** Labels on every event (OPA puts id and version here); an event's own labels win. */
  labels?: Record<string, string>;
  /** Upload as soon as this many events wait (default 500). */
  batchMaxEvents?: number;
  /** Largest uncompressed JSON array per upload (default 1 MiB). */
  batchMaxBytes?: number;
  /** Upload a smaller batch after it has waited this long (default 5000). */
  flushIntervalMs?: number;
  /** Buffer bounds; the oldest events are dropped and counted beyond them (defaults 10000 events, 32 MiB). */
  maxBufferedEvents?: number;
  maxBufferedBytes?: number;
  /** Events larger than this once masked are dropped and counted (default: what fits in one batch). */
  maxEventBytes?: number;
  /** Whole-request timeout (default 10000). */
  requestTimeoutMs?: number;
  /** Retry backoff: ceiling starts here and doubles per failure up to retryMaxMs (defaults 100 and 60000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long close() keeps trying to deliver what is buffered (default 5000). */
  closeTimeoutMs?: number;
  /** Evaluates data.system.log.mask with the event as input; returns OPA's result set. */
  mask?: (event: Record<string, unknown>) => unknown;
  /** Evaluates data.system.log.drop with the event as input; returns OPA's result set. */
  drop?: (event: Record<string, unknown>) => unknown;
  /** Keep body text (masked) in uploaded inputs; removed by default (see observability/mask.ts). */
  logBody?: boolean;
  /** The active revision's data, for its prompt-guard patterns. */
  policyData?: () => unknown;
  logger?: Logger;
  /** Jitter source in [0, 1) (tests pin it). */
  random?: () => number;
}

export interface ResolvedSinkOptions {
  endpoint: URL;
  headers: Record<string, string>;
  tls: TlsOptions | undefined;
  labels: Record<string, string>;
  batchMaxEvents: number;
  batchMaxBytes: number;
  flushIntervalMs: number;
  maxBufferedEvents: number;
  maxBufferedBytes: number;
  maxEventBytes: number;
  requestTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  closeTimeoutMs: number;
  mask: ((event: Record<string, unknown>) => unknown) | undefined;
  drop: ((event: Record<string, unknown>) => unknown) | undefined;
  logBody: boolean;
  policyData: () => unknown;
  logger: Logger | undefined;
  random: () => number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new TollgateError("config_error", `decision log sink: ${name} must be a positive integer, got ${String(value)}`);
  return v;
}

function endpoint(url: string, resource: string | undefined): URL {
  let base: URL;
  try {
    base = new URL(url);
  } catch (err) {
    throw new TollgateError("config_error", `decision log sink: invalid url ${JSON.stringify(url)}`, { cause: err });
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new TollgateError("config_error", `decision log sink: url must be http or https, got ${base.protocol}`);
  const path = `${base.pathname.replace(/\/+$/, "")}/${(resource ?? "/logs").replace(/^\/+/, "")}`;
  return new URL(path, base);
}

export function resolveSinkOptions(o: DecisionLogSinkOptions): ResolvedSinkOptions {
  const batchMaxBytes = positive("batchMaxBytes", o.batchMaxBytes, 1024 * 1024);
  if (batchMaxBytes < 64) throw new TollgateError("config_error", "decision log sink: batchMaxBytes must be at least 64");
  const maxBufferedBytes = positive("maxBufferedBytes", o.maxBufferedBytes, 32 * 1024 * 1024);
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(o.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    "content-type": "application/json",
    "content-encoding": "gzip",
  };
  if (o.bearerToken !== undefined) {
    if (o.bearerToken === "" || /[\r\n]/.test(o.bearerToken)) throw new TollgateError("config_error", "decision log sink: bearerToken must be a non-empty single line");
    headers["authorization"] = `${o.bearerScheme ?? "Bearer"} ${o.bearerToken}`;
  }
  const retryBaseMs = positive("retryBaseMs", o.retryBaseMs, 100);
  const retryMaxMs = positive("retryMaxMs", o.retryMaxMs, 60_000);
  if (retryMaxMs < retryBaseMs) throw new TollgateError("config_error", "decision log sink: retryMaxMs must be >= retryBaseMs");
  return {
    endpoint: endpoint(o.url, o.resource),
    headers,
    tls: o.tls,
    labels: { ...(o.labels ?? {}) },
    batchMaxEvents: positive("batchMaxEvents", o.batchMaxEvents, 500),
    batchMaxBytes,
    flushIntervalMs: positive("flushIntervalMs", o.flushIntervalMs, 5000),
    maxBufferedEvents: positive("maxBufferedEvents", o.maxBufferedEvents, 10_000),
    maxBufferedBytes,
    maxEventBytes: Math.min(positive("maxEventBytes", o.maxEventBytes, batchMaxBytes - 2), batchMaxBytes - 2, maxBufferedBytes),
    requestTimeoutMs: positive("requestTimeoutMs", o.requestTimeoutMs, 10_000),
    retryBaseMs,
    retryMaxMs,
    closeTimeoutMs: positive("closeTimeoutMs", o.closeTimeoutMs, 5000),
    mask: o.mask,
    drop: o.drop,
    logBody: o.logBody ?? false,
    policyData: o.policyData ?? (() => undefined),
    logger: o.logger,
    random: o.random ?? Math.random,
  };
}
