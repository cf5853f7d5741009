import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { httpGet, type HttpGetResult } from "./http-get.js";
import { loadPersistedBundle, persistBundle } from "./persist.js";
import { pollDelayMs, retryDelayMs, sleep } from "./poll-delay.js";
import { DEFAULT_BUNDLE_LIMITS, readBundleArchive, type BundleLimits } from "./read.js";
import { manifestRevision, type BundleHandler, type BundleOrigin, type BundleSourceStatus, type FetchedBundle } from "./source-types.js";

/** A server answering with this content type supports long polling (OPA's bundle service API). */
export const OPA_BUNDLE_CONTENT_TYPE = "application/vnd.openpolicyagent.bundles";

export interface HttpBundleSourceOptions {
  url: string;
  onBundle: BundleHandler;
  logger: Logger;
  /** Bearer token, or a function asked on every request (a token file re-read, so it can rotate). */
  token?: string | (() => string);
  /** Extra CA certificates (PEM) trusted for an https URL. */
  ca?: string | Buffer;
  caFile?: string;
  /** Regular polling window (OPA: min_delay_seconds / max_delay_seconds, default 60 / 120 s). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Ask the server to hold each request up to this long (OPA: long_polling_timeout_seconds). */
  longPollingTimeoutSeconds?: number;
  /** Deadline of a regular request; a long poll gets the wait on top. */
  requestTimeoutMs?: number;
  limits?: Partial<BundleLimits>;
  /** Persist each accepted bundle here and fall back to it when the server is down at start. */
  stateDir?: string;
  stateName?: string;
  random?: () => number;
}

export interface BundleStartResult {
  origin: BundleOrigin | "none";
  revision: string | undefined;
  /** Why the server's bundle is not serving, when it is not. */
  error: string | undefined;
}

type Outcome = { kind: "ok"; status: 200 | 304; elapsedMs: number } | { kind: "error" } | { kind: "stopped" };

interface Accepted {
  digest: string;
  revision: string;
  origin: BundleOrigin;
}

/**
 * Polls an OPA bundle server: If-None-Match with the last ETag (304 = unchanged), long polling
 * with `Prefer: wait=N` once the server answers with OPA's bundle content type, otherwise a
 * jittered delay between min and max, and OPA's backoff after failures. Every bundle goes to
 * onBundle one at a time; a bundle identical to the serving or last refused one is not handed over again.
 */
export class HttpBundleSource {
  private readonly opts: HttpBundleSourceOptions;
  private readonly controller = new AbortController();
  private readonly ca: string | Buffer | undefined;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private etag = "";
  private longPoll: boolean;
  private retries = 0;
  private accepted: Accepted | undefined;
  private rejectedDigest: string | undefined;
  private loopDone: Promise<void> | undefined;
  private readonly state: Omit<BundleSourceStatus, "origin" | "revision" | "digest"> = {
    lastSuccessAt: undefined,
    lastError: undefined,
    lastRejection: undefined,
    consecutiveFailures: 0,
  };

  constructor(opts: HttpBundleSourceOptions) {
    this.opts = opts;
    try {
      new URL(opts.url);
    } catch (err) {
      throw new TollgateError("config_error", `bundle URL ${JSON.stringify(opts.url)} is not a URL`, { cause: err });
    }
    if ((opts.minDelayMs === undefined) !== (opts.maxDelayMs === undefined)) {
      throw new TollgateError("config_error", "bundle polling: set both the min and the max delay, or neither (as OPA requires)");
    }
    if ((opts.minDelayMs ?? 0) < 0 || (opts.minDelayMs ?? 0) > (opts.maxDelayMs ?? 0)) throw new TollgateError("config_error", "bundle polling: max delay must be >= min delay >= 0");
    if (opts.longPollingTimeoutSeconds !== undefined && !(Number.isInteger(opts.longPollingTimeoutSeconds) && opts.longPollingTimeoutSeconds >= 1)) {
      throw new TollgateError("config_error", "bundle polling: long polling timeout must be a whole number of seconds >= 1");
    }
    this.ca = opts.ca ?? (opts.caFile ? readConfigFile(opts.caFile, "bundle CA file") : undefined);
    this.longPoll = opts.longPollingTimeoutSeconds !== undefined;
    this.agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true, ...(this.ca === undefined ? {} : { ca: this.ca }) }) };
  }

  status(): BundleSourceStatus {
    return { origin: this.accepted?.origin ?? "none", revision: this.accepted?.revision, digest: this.accepted?.digest, ...this.state };
  }

  /**
   * Makes the first download; when that yields nothing to serve and a persisted bundle exists,
   * hands that over instead (origin "persisted"). Then keeps polling in the background.
   */
  async start(): Promise<BundleStartResult> {
    if (this.loopDone) throw new TollgateError("internal_error", "bundle source already started");
    this.loopDone = Promise.resolve();
    const first = await this.attempt();
    const problem = this.state.lastError ?? this.state.lastRejection;
    if (!this.accepted && this.opts.stateDir !== undefined && first.kind !== "stopped") await this.fromDisk();
    this.loopDone = this.loop(first);
    const status = this.status();
    return { origin: status.origin, revision: status.revision, error: status.origin === "server" ? undefined : problem };
  }

  /** Stops polling: aborts a request in flight and waits for a handover in progress. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loopDone;
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private async loop(first: Outcome): Promise<void> {
    let outcome = first;
    while (outcome.kind !== "stopped" && !this.controller.signal.aborted) {
      await sleep(this.delayAfter(outcome), this.controller.signal);
      if (this.controller.signal.aborted) return;
      outcome = await this.attempt();
    }
  }

  private delayAfter(outcome: Outcome): number {
    const max = this.opts.maxDelayMs ?? 120_000;
    if (outcome.kind === "error") return retryDelayMs(this.retries++, max, this.opts.random);
    this.retries = 0;
    const wait = (this.opts.longPollingTimeoutSeconds ?? 0) * 1000;
    // A 304 long before the wait ran out means the server did not hold the request: poll normally rather than spin.
    const held = outcome.kind === "ok" && !(outcome.status === 304 && outcome.elapsedMs < wait / 2);
    if (this.longPoll && held) return 0;
    return pollDelayMs(this.opts.minDelayMs ?? 60_000, max, this.opts.random);
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = {
      "user-agent": "tollgate",
      prefer: this.longPoll ? `modes=snapshot;wait=${this.opts.longPollingTimeoutSeconds}` : "modes=snapshot",
    };
    if (this.etag) headers["if-none-match"] = this.etag;
    const token = typeof this.opts.token === "function" ? this.opts.token() : this.opts.token;
    if (token) headers["authorization"] = `Bearer ${token}`;
    return headers;
  }

  private async attempt(): Promise<Outcome> {
    const started = performance.now();
    let res: HttpGetResult;
    try {
      const wait = this.longPoll ? (this.opts.longPollingTimeoutSeconds ?? 0) * 1000 : 0;
      res = await httpGet({
        url: this.opts.url,
        headers: this.headers(),
        timeoutMs: (this.opts.requestTimeoutMs ?? 10_000) + wait,
        maxBytes: this.opts.limits?.maxArchiveBytes ?? DEFAULT_BUNDLE_LIMITS.maxArchiveBytes,
        ...(this.ca === undefined ? {} : { ca: this.ca }),
        signal: this.controller.signal,
        agents: this.agents,
      });
      if (res.status !== 200 && res.status !== 304) throw new TollgateError("internal_error", `bundle server answered HTTP ${res.status}`);
      if (res.status === 200) {
        this.longPoll = this.opts.longPollingTimeoutSeconds !== undefined && res.headers["content-type"] === OPA_BUNDLE_CONTENT_TYPE;
        const archive = readBundleArchive(res.body, this.opts.limits);
        this.etag = headerValue(res.headers.etag);
        this.succeeded();
        await this.deliver({ bytes: res.body, archive, revision: manifestRevision(archive), etag: this.etag, origin: "server", location: this.opts.url });
      } else {
        const etag = headerValue(res.headers.etag);
        if (etag) this.etag = etag;
        this.succeeded();
      }
      return { kind: "ok", status: res.status, elapsedMs: performance.now() - started };
    } catch (err) {
      if (this.controller.signal.aborted) return { kind: "stopped" };
      const e = TollgateError.from(err);
      this.etag = "";
      this.state.lastError = e.message;
      this.state.consecutiveFailures++;
      this.opts.logger.warn(
        { event: "bundle_download_failed", url: this.opts.url, error: e.message, failures: this.state.consecutiveFailures, serving_revision: this.accepted?.revision },
        "bundle download failed; the current revision keeps serving",
      );
      return { kind: "error" };
    }
  }

  private succeeded(): void {
    this.state.lastSuccessAt = new Date().toISOString();
    this.state.lastError = undefined;
    this.state.consecutiveFailures = 0;
  }

  private async deliver(bundle: FetchedBundle): Promise<void> {
    const digest = bundle.archive.digest;
    if (this.accepted?.digest === digest) {
      if (this.accepted.origin !== "server") {
        this.accepted = { ...this.accepted, origin: "server" };
        this.opts.logger.info({ event: "bundle_server_confirmed", revision: this.accepted.revision }, "bundle server is back and serves the persisted revision");
      }
      return;
    }
    if (this.rejectedDigest === digest) return;
    try {
      await this.opts.onBundle(bundle);
    } catch (err) {
      const e = TollgateError.from(err, "policy_build_error");
      this.rejectedDigest = digest;
      this.state.lastRejection = e.message;
      this.opts.logger.error(
        { event: "bundle_rejected", url: this.opts.url, revision: bundle.revision, error: e.message, serving_revision: this.accepted?.revision },
        "bundle rejected; the current revision keeps serving",
      );
      return;
    }
    this.accepted = { digest, revision: bundle.revision, origin: bundle.origin };
    if (bundle.origin === "server") this.state.lastRejection = undefined;
    if (this.opts.stateDir !== undefined && bundle.origin === "server") await this.persist(bundle);
  }

  private async persist(bundle: FetchedBundle): Promise<void> {
    try {
      await persistBundle({
        stateDir: this.opts.stateDir as string,
        ...(this.opts.stateName === undefined ? {} : { name: this.opts.stateName }),
        bytes: bundle.bytes,
        revision: bundle.revision,
        etag: bundle.etag,
        location: bundle.location,
      });
    } catch (err) {
      this.opts.logger.warn({ event: "bundle_persist_failed", error: TollgateError.from(err).message }, "could not persist the activated bundle");
    }
  }

  private async fromDisk(): Promise<void> {
    const options = { stateDir: this.opts.stateDir as string, ...(this.opts.stateName === undefined ? {} : { name: this.opts.stateName }) };
    try {
      const saved = await loadPersistedBundle(options);
      if (!saved) return;
      const archive = readBundleArchive(saved.bytes, this.opts.limits);
      const reason = this.state.lastError ?? this.state.lastRejection;
      await this.deliver({ bytes: saved.bytes, archive, revision: saved.meta.revision, etag: saved.meta.etag, origin: "persisted", location: saved.meta.location, savedAt: saved.meta.savedAt });
      if (this.accepted?.origin === "persisted") {
        this.opts.logger.warn(
          { event: "bundle_served_from_disk", revision: saved.meta.revision, saved_at: saved.meta.savedAt, url: this.opts.url, reason },
          "bundle server unavailable; serving the last persisted revision",
        );
      }
    } catch (err) {
      this.opts.logger.error({ event: "bundle_persisted_unusable", error: TollgateError.from(err).message }, "persisted bundle cannot be used");
    }
  }
}

function headerValue(value: string | string[] | undefined): string {
  return Array.isArray(value) ? (value[0] ?? "") : (value ?? "");
}

function readConfigFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TollgateError("config_error", `${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}
