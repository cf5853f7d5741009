import { TollgateError, type ErrorCode } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

/** Codes a client caused: logged as warnings, not errors. */
const CLIENT_CODES: ReadonlySet<ErrorCode> = new Set(["request_parse_error", "request_too_large", "reservation_invalid", "overloaded"]);

/**
 * Wraps one gRPC handler (Check, ShouldRateLimit, and any later one) so every call is recorded
 * the same way: timed and counted by method and result code ("ok", or the TollgateError code that
 * also picks the gRPC status), and every failure logged once with that code.
 */
export function instrumentHandler<Req, Res>(method: string, handler: (req: Req) => Promise<Res>, o: { logger: Logger; metrics?: Metrics | undefined }): (req: Req) => Promise<Res> {
  // One labels object per handler, and performance.now() rather than startTimer's closure and hrtime pairs per call.
  const methodLabels = Object.freeze({ method });
  const okLabels = Object.freeze({ method, code: "ok" });
  return async (req) => {
    const started = performance.now();
    try {
      const res = await handler(req);
      o.metrics?.grpcCalls.inc(okLabels);
      return res;
    } catch (err) {
      const e = TollgateError.from(err);
      o.metrics?.grpcCalls.inc({ method, code: e.code });
      o.logger[CLIENT_CODES.has(e.code) ? "warn" : "error"]({ event: "grpc_call_failed", method, code: e.code, error: e.message }, `${method} failed`);
      throw e;
    } finally {
      o.metrics?.grpcCallDuration.observe(methodLabels, (performance.now() - started) / 1000);
    }
  };
}
