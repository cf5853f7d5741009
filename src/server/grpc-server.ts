import type { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Server, ServerCredentials, type ServiceError, type handleBidiStreamingCall, type handleUnaryCall } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { TollgateError } from "../errors.js";
import { AuthorizationService, CheckResponse, type CheckRequest } from "../gen/envoy/service/auth/v3/external_auth.js";
import { ExternalProcessorService, type ProcessingRequest, type ProcessingResponse } from "../gen/envoy/service/ext_proc/v3/external_processor.js";
import { RateLimitResponse, type RateLimitRequest } from "../gen/envoy/service/ratelimit/v3/rls.js";
import { rateLimitServiceDefinition } from "../ratelimit/handler.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { instrumentHandler } from "./instrument.js";
import { addReflection } from "./reflection.js";
import { installUnaryFastPath, type FastUnaryMethod } from "./unary-fast-path.js";

export const AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization";
export const RLS_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
export const EXTPROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor";

export interface GrpcServerOptions {
  addr: string;
  maxMessageBytes: number;
  /** TLS or mTLS credentials; plaintext when absent. */
  credentials?: ServerCredentials;
  logger: Logger;
  metrics?: Metrics;
  /** Health statuses; pass one in to flip them before the server exists (e.g. on policy activation). */
  health?: HealthImplementation;
  check: (req: CheckRequest) => Promise<CheckResponse>;
  shouldRateLimit?: (req: RateLimitRequest) => Promise<RateLimitResponse>;
  /** ext_proc: one bidirectional stream per HTTP response (src/extproc/). */
  process?: handleBidiStreamingCall<ProcessingRequest, ProcessingResponse>;
}

function toServiceError(err: unknown): Partial<ServiceError> {
  const e = TollgateError.from(err);
  return { code: e.grpcStatus, details: `${e.code}: ${e.message}` };
}

/** Health statuses for every service tollgate serves, all NOT_SERVING until the app says otherwise. */
export function createHealth(): HealthImplementation {
  return new HealthImplementation({ "": "NOT_SERVING", [AUTHZ_SERVICE]: "NOT_SERVING", [RLS_SERVICE]: "NOT_SERVING", [EXTPROC_SERVICE]: "NOT_SERVING" });
}

/** Check and ShouldRateLimit calls a handler is still working on (for the shutdown log). */
interface Inflight {
  count: number;
}

/** Counts a handler's calls in flight; a counter, not a set of promises with a finally() each. */
function counted<Req, Res>(fn: (req: Req) => Promise<Res>, inflight: Inflight): (req: Req) => Promise<Res> {
  return (req) => {
    inflight.count++;
    return fn(req).then(
      (res) => {
        inflight.count--;
        return res;
      },
      (err: unknown) => {
        inflight.count--;
        throw err;
      },
    );
  };
}

/** Adapts a promise-returning handler to grpc-js; every failure becomes a gRPC status, never a crash. */
function unary<Req, Res>(fn: (req: Req) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    void fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

/** A grpc-js method definition, its message encoder and its handler as a fast-path method (same path, codec and error mapping). */
function fastMethod<Req, Res>(
  def: { path: string; requestDeserialize: (b: Buffer) => Req },
  encode: (value: Res, writer: BinaryWriter) => BinaryWriter,
  handle: (req: Req) => Promise<Res>,
): FastUnaryMethod {
  const toStatus = (err: unknown) => {
    const e = toServiceError(err);
    return { code: e.code!, details: e.details ?? "" };
  };
  return { path: def.path, decode: def.requestDeserialize, encode, handle, toStatus } as FastUnaryMethod;
}

/** gRPC wiring only: Check, ShouldRateLimit, ext_proc, health and reflection. */
export class GrpcServer {
  readonly health: HealthImplementation;
  private readonly server: Server;
  private readonly inflight: Inflight = { count: 0 };
  private readonly opts: GrpcServerOptions;
  private readonly fastMethods: FastUnaryMethod[];
  port = 0;
  /** HTTP/2 servers answering Check and ShouldRateLimit on the fast path (0: grpc-js answers them). */
  fastPathServers = 0;

  constructor(opts: GrpcServerOptions) {
    this.opts = opts;
    this.health = opts.health ?? createHealth();
    this.server = new Server({
      "grpc.max_receive_message_length": opts.maxMessageBytes,
      "grpc.max_send_message_length": opts.maxMessageBytes,
      "grpc.keepalive_permit_without_calls": 1,
    });
    // Every handler goes through the same wrapper: one way to time, count and log a call (an ext_proc handler joins here too).
    const handler = <Req, Res>(method: string, fn: (req: Req) => Promise<Res>) => counted(instrumentHandler(method, fn, { logger: opts.logger, metrics: opts.metrics }), this.inflight);
    const check = handler("check", opts.check);
    const rls = handler("shouldRateLimit", opts.shouldRateLimit ?? (() => Promise.reject(new TollgateError("config_error", "rate limit service is not configured"))));
    this.server.addService(AuthorizationService, { check: unary(check) });
    // The ratelimit definition decodes per-descriptor hits_addend, which the generated decoder drops.
    this.server.addService(rateLimitServiceDefinition, { shouldRateLimit: unary(rls) });
    this.fastMethods = [
      fastMethod(AuthorizationService.check, CheckResponse.encode, check),
      fastMethod(rateLimitServiceDefinition.shouldRateLimit, RateLimitResponse.encode, rls),
    ];
    // ext_proc is a bidirectional stream, one per HTTP response: it counts and logs in src/extproc/ (one usage_reconciled line per response).
    if (opts.process) this.server.addService(ExternalProcessorService, { process: opts.process });
    this.health.addToServer(this.server);
    addReflection(this.server);
  }

  async start(): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.opts.addr, this.opts.credentials ?? ServerCredentials.createInsecure(), (err, port) => (err ? reject(new TollgateError("config_error", `cannot listen on ${this.opts.addr}: ${err.message}`, { cause: err })) : resolve(port)));
    });
    const limits = { maxReceiveBytes: this.opts.maxMessageBytes, maxSendBytes: this.opts.maxMessageBytes };
    this.fastPathServers = installUnaryFastPath(this.server, this.fastMethods, limits);
    if (this.fastPathServers === 0) this.opts.logger.warn({ event: "grpc_fast_path_off" }, "grpc-js internals not as expected; Check and ShouldRateLimit answered by grpc-js");
    return this.port;
  }

  setServing(service: string, serving: boolean): void {
    this.health.setStatus(service, serving ? "SERVING" : "NOT_SERVING");
  }

  /** Stops accepting calls, lets in-flight ones finish (up to graceMs), then closes. */
  async drain(graceMs: number): Promise<void> {
    for (const s of ["", AUTHZ_SERVICE, RLS_SERVICE, EXTPROC_SERVICE]) this.health.setStatus(s, "NOT_SERVING");
    const shutdown = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
    if ((await Promise.race([shutdown.then(() => "done" as const), timer])) === "timeout") {
      this.opts.logger.warn({ event: "shutdown_forced", inflight: this.inflight.count }, "grace period over; closing remaining calls");
      this.server.forceShutdown();
    }
  }
}

