import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { buildReport } from "../report/build.js";
import { collectReportInputs } from "../report/collect.js";
import { CONTENT_TYPES, parseFormat, renderReport } from "../report/render.js";
import { reportWindow } from "../report/window.js";
import { TlsFileWatcher } from "../tls/certificates.js";
import { splitHostPort } from "../net/host-port.js";
import { bearerMatches, checkTokenPolicy, operatorOf } from "./auth.js";
import type { AdminContext, AdminStatus } from "../status/context.js";
import { capConnections } from "./connection-cap.js";
import { dashboardData, DecisionSampler } from "./dashboard-feed.js";
import { serveDashboardAsset } from "./dashboard-assets.js";
import { llmUsageFromRegistry, llmUsageFromText, type LlmUsage } from "./llm-usage.js";
import { httpStatusOf, readJsonBody, send, sendError, sendFailure, sendJson } from "./http.js";
import { removeLocalToken, writeLocalToken } from "./local-token.js";

export interface AdminServerOptions {
  /** host:port; port 0 picks a free one. */
  addr: string;
  /** Bearer token. Required unless addr's host is 127.0.0.1, ::1 or localhost; state-changing calls always need it. */
  token?: string | undefined;
  /**
   * A loopback server without `token` generates one at start for its state-changing calls only and
   * writes it here (admin-<port>.token, 0600), where `tollgate rollback`/`promote` read it.
   */
  localTokenDir?: string | undefined;
  /** Serve HTTPS with these files, reloaded when they change. */
  tls?: { certFile: string; keyFile: string; pollMs?: number } | undefined;
  context: AdminContext;
  registry: Registry;
  /** Under `--workers`: /metrics answers every worker's metrics, aggregated by the primary. */
  allMetrics?: () => Promise<{ text: string; contentType: string }>;
  logger: Logger;
  auditFile?: string | undefined;
  /** Dashboard sampling interval (default 2000 ms). */
  sampleIntervalMs?: number;
  /** Longest a context call may take before the request answers 503 (default 10 s). */
  callTimeoutMs?: number;
  /** Time for a client to send its request headers (default 10 s). */
  headersTimeoutMs?: number;
  /** Open connections at most (default 256); at the cap the oldest idle one makes room. */
  maxConnections?: number;
}

const HEADERS_TIMEOUT_MS = 10_000;

/** Paths open without a token: probes, and the dashboard's static files (they hold no data). */
const PUBLIC = /^\/(healthz|readyz|dashboard(\/.*)?)$/;
const STATE_CHANGING = new Set(["/v1/policy/rollback", "/v1/policy/promote"]);
const GET_ROUTES = new Set(["/healthz", "/readyz", "/metrics", "/v1/status", "/v1/policy/history", "/v1/usage", "/v1/llm-usage", "/v1/dashboard", "/v1/report"]);

/**
 * The admin HTTP(S) server: probes, Prometheus metrics, status, policy history and usage, the live
 * dashboard, the compliance report, and audited rollback/promote. Bounded: small bodies, short
 * header and request timeouts, a connection cap.
 */
export class AdminServer {
  private readonly server: Server;
  private readonly sampler: DecisionSampler;
  private readonly tls: TlsFileWatcher | undefined;
  private readonly opts: AdminServerOptions;
  private localToken: { token: string; file: string } | undefined;
  port = 0;

  private constructor(opts: AdminServerOptions, tls: TlsFileWatcher | undefined) {
    this.opts = opts;
    this.tls = tls;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const headersTimeout = opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    const common = {
      maxHeaderSize: 16 * 1024,
      requestTimeout: Math.max(15_000, headersTimeout),
      headersTimeout,
      keepAliveTimeout: 5_000,
      // Node checks the two timeouts above only this often (default 30 s, which let a connection
      // trickling its headers live 23 s against a 10 s deadline).
      connectionsCheckingInterval: Math.min(1000, Math.ceil(headersTimeout / 4)),
    };
    if (tls) {
      const m = tls.current();
      const server = createHttpsServer({ ...common, cert: m.cert, key: m.key, minVersion: "TLSv1.2" }, handler);
      tls.onUpdate((next) => server.setSecureContext({ cert: next.cert, key: next.key }));
      this.server = server;
    } else {
      this.server = createHttpServer(common, handler);
    }
    capConnections(this.server, opts.maxConnections ?? 256);
    this.sampler = new DecisionSampler({ registry: opts.registry, ...(opts.sampleIntervalMs ? { intervalMs: opts.sampleIntervalMs } : {}) });
  }

  /** Validates the token rule (config_error when a non-loopback address has no token), then listens. */
  static async start(opts: AdminServerOptions): Promise<AdminServer> {
    const { host, port } = splitHostPort(opts.addr);
    checkTokenPolicy(host, opts.token);
    const tls = opts.tls
      ? await TlsFileWatcher.start({ files: { certFile: opts.tls.certFile, keyFile: opts.tls.keyFile }, logger: opts.logger, ...(opts.tls.pollMs ? { pollMs: opts.tls.pollMs } : {}) })
      : undefined;
    const admin = new AdminServer(opts, tls);
    try {
      await new Promise<void>((resolve, reject) => {
        admin.server.once("error", reject);
        admin.server.listen(port, host, () => {
          admin.server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      await tls?.close();
      throw new TollgateError("config_error", `cannot listen on ${opts.addr}: ${TollgateError.from(err).message}`, { cause: err });
    }
    admin.port = (admin.server.address() as AddressInfo).port;
    if (opts.token === undefined && opts.localTokenDir !== undefined) {
      try {
        admin.localToken = writeLocalToken(opts.localTokenDir, admin.port);
      } catch (err) {
        // Fail closed: without the file, rollback and promote stay refused, as with no token at all.
        opts.logger.warn({ event: "admin_local_token_failed", error: TollgateError.from(err).message }, "could not write the local admin token; rollback and promote need --admin-token-file");
      }
    }
    admin.sampler.start();
    opts.logger.info(
      { event: "admin_listening", http_addr: opts.addr, http_port: admin.port, tls: tls !== undefined, token_required: opts.token !== undefined, local_token_file: admin.localToken?.file },
      "admin server listening",
    );
    return admin;
  }

  get url(): string {
    const { host } = splitHostPort(this.opts.addr);
    return `${this.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${this.port}`;
  }

  async close(): Promise<void> {
    this.sampler.stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      // A dashboard keeps a connection busy every 2 s; do not wait for it past a short grace.
      setTimeout(() => this.server.closeAllConnections(), 2000).unref();
    });
    await this.tls?.close();
    if (this.localToken) removeLocalToken(this.localToken.file, this.localToken.token);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path: string;
    let query: URLSearchParams;
    try {
      const url = new URL(req.url ?? "/", "http://admin.invalid");
      path = url.pathname;
      query = url.searchParams;
    } catch {
      return sendError(res, 400, "request_parse_error", "bad request target");
    }
    try {
      if (!PUBLIC.test(path) && this.opts.token !== undefined && !bearerMatches(req, this.opts.token)) {
        this.opts.logger.warn({ event: "admin_auth_failed", path, remote: req.socket.remoteAddress }, "admin call without a valid bearer token");
        return sendError(res, 401, "unauthorized", "a valid bearer token is required");
      }
      if (STATE_CHANGING.has(path)) {
        if (req.method !== "POST") return sendError(res, 405, "method_not_allowed", "use POST");
        return await this.change(req, res, path);
      }
      if (path.startsWith("/dashboard")) {
        if (req.method !== "GET" && req.method !== "HEAD") return sendError(res, 405, "method_not_allowed", "use GET");
        if (!(await serveDashboardAsset(path, res))) sendError(res, 404, "not_found", "no such dashboard file");
        return;
      }
      if (!GET_ROUTES.has(path)) return sendError(res, 404, "not_found", `no route ${path}`);
      if (req.method !== "GET" && req.method !== "HEAD") return sendError(res, 405, "method_not_allowed", "use GET");
      await this.read(path, query, res);
    } catch (err) {
      const e = TollgateError.from(err);
      if (httpStatusOf(e) === 500) this.opts.logger.error({ event: "admin_error", path, code: e.code, error: e.message }, "admin call failed");
      sendFailure(res, e);
    }
  }

  private async read(path: string, query: URLSearchParams, res: ServerResponse): Promise<void> {
    const ctx = this.opts.context;
    switch (path) {
      case "/healthz":
        return send(res, 200, "ok\n", "text/plain; charset=utf-8");
      case "/readyz": {
        const ready = ctx.ready();
        return sendJson(res, ready ? 200 : 503, { ready });
      }
      case "/metrics": {
        if (!this.opts.allMetrics) return send(res, 200, await this.registry.metrics(), this.registry.contentType);
        const all = await this.call(this.opts.allMetrics);
        return send(res, 200, all.text, all.contentType);
      }
      case "/v1/status":
        return sendJson(res, 200, await this.status());
      case "/v1/policy/history":
        return sendJson(res, 200, { entries: await this.call(() => ctx.history()) });
      case "/v1/usage":
        return sendJson(res, 200, { tenants: await this.call(() => ctx.usage()) });
      case "/v1/llm-usage":
        return sendJson(res, 200, await this.llmUsage());
      case "/v1/dashboard":
        return sendJson(res, 200, await this.call(() => dashboardData({ registry: this.registry, sampler: this.sampler, context: ctx, llmUsage: () => this.llmUsage() })));
      case "/v1/report": {
        const format = parseFormat(query.get("format") ?? undefined);
        const window = reportWindow({ from: query.get("from") ?? undefined, to: query.get("to") ?? undefined });
        const status = await this.call(() => ctx.status());
        const inputs = await collectReportInputs({ registry: this.registry, status, admin: this.facts(), auditFile: this.opts.auditFile, window });
        const csp: Record<string, string> = format === "html" ? { "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'" } : {};
        return send(res, 200, renderReport(buildReport(inputs), format), CONTENT_TYPES[format], csp);
      }
    }
  }

  private async change(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (this.opts.token === undefined) {
      if (!this.localToken) return sendError(res, 403, "forbidden", "state-changing calls need an admin token, and none is configured");
      if (!bearerMatches(req, this.localToken.token)) {
        this.opts.logger.warn({ event: "admin_auth_failed", path, remote: req.socket.remoteAddress }, "state-changing call without the local admin token");
        return sendError(res, 401, "unauthorized", `state-changing calls need the token in ${this.localToken.file}`);
      }
    }
    const body = await readJsonBody(req);
    const operator = operatorOf(req, body);
    const action = path.endsWith("rollback") ? "rollback" : "promote";
    const revision = body["revision"];
    if (revision !== undefined && (typeof revision !== "string" || revision === "" || revision.length > 256)) {
      throw new TollgateError("request_parse_error", "revision must be a non-empty string of at most 256 characters");
    }
    const log = { event: "admin_policy_change", action, operator, remote: req.socket.remoteAddress, requested_revision: revision };
    try {
      const ctx = this.opts.context;
      const result = await this.call(() => (action === "rollback" ? ctx.rollback(revision, operator) : ctx.promote(operator)));
      this.opts.logger.info({ ...log, outcome: "done", revision: result.revision, previous_revision: result.previousRevision }, `policy ${action} by ${operator}`);
      sendJson(res, 200, { action, operator, ...result });
    } catch (err) {
      this.opts.logger.warn({ ...log, outcome: "refused", error: TollgateError.from(err).message }, `policy ${action} refused`);
      throw err;
    }
  }

  /** Tokens reserved against used by reconciled LLM responses; under `--workers` every worker's, from the primary's summed scrape. */
  private async llmUsage(): Promise<LlmUsage> {
    const all = this.opts.allMetrics;
    return all ? llmUsageFromText((await this.call(all)).text) : llmUsageFromRegistry(this.registry);
  }

  private get registry(): Registry {
    return this.opts.registry;
  }

  private facts() {
    return { addr: this.opts.addr, tls: this.tls !== undefined, tokenRequired: this.opts.token !== undefined, localTokenFile: this.localToken !== undefined };
  }

  private async status(): Promise<AdminStatus & { admin: ReturnType<AdminServer["facts"]> }> {
    return { ...(await this.call(() => this.opts.context.status())), admin: this.facts() };
  }

  /** Runs a context call with a deadline, so a stuck dependency cannot hold admin connections forever. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    const ms = this.opts.callTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TollgateError("internal_error", `admin call timed out after ${ms} ms`)), ms);
    });
    return Promise.race([fn(), timeout]).finally(() => clearTimeout(timer));
  }
}
