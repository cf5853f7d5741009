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
  return async (req) => {
    const end = o.metrics?.grpcCallDuration.startTimer({ method });
    try {
      const res = await handler(req);
      o.metrics?.grpcCalls.inc({ method, code: "ok" });
      return res;
    } catch (err) {
      const e = TollgateError.from(err);
      o.metrics?.grpcCalls.inc({ method, code: e.code });
      o.logger[CLIENT_CODES.has(e.code) ? "warn" : "error"]({ event: "grpc_call_failed", method, code: e.code, error: e.message }, `${method} failed`);
      throw e;
    } finally {
      end?.();
    }
  };
}
