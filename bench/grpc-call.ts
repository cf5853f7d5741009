import { spawn } from "node:child_process";
import path from "node:path";
import { TollgateError } from "../src/errors.js";
import { statusCodeFromJSON } from "../src/gen/envoy/type/v3/http_status.js";

export const PROTOSET = path.join(import.meta.dirname, "..", "src", "gen", "descriptors.binpb");
export const CHECK_CALL = "envoy.service.auth.v3.Authorization/Check";
export const RLS_CALL = "envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/** One unary call through grpcurl with the protoset (no reflection needed); returns the JSON response. */
export function grpcurlCall(opts: { grpcurl: string; addr: string; call: string; body: unknown; timeoutSeconds?: number }): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const args = ["-plaintext", "-protoset", PROTOSET, "-max-time", String(opts.timeoutSeconds ?? 5), "-d", "@", opts.addr, opts.call];
    const child = spawn(opts.grpcurl, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.once("error", (e) => reject(new TollgateError("internal_error", `grpcurl: ${e.message}`)));
    child.once("exit", (code) => {
      if (code !== 0) return reject(new TollgateError("internal_error", `${opts.call} on ${opts.addr}: ${err.trim() || `grpcurl exit ${code}`}`));
      try {
        resolve(JSON.parse(out) as Record<string, unknown>);
      } catch {
        reject(new TollgateError("internal_error", `grpcurl printed no JSON: ${out.slice(0, 200)}`));
      }
    });
    // grpcurl exits before reading stdin when it cannot connect; its exit code tells the story.
    child.stdin.on("error", () => undefined);
    child.stdin.end(JSON.stringify(opts.body));
  });
}

/** The HTTP status Envoy would answer for a CheckResponse: 200 when allowed, else the denied status (403 by default). */
export function httpStatusOf(res: Record<string, unknown>): number {
  const code = (res["status"] as { code?: number } | undefined)?.code ?? 0;
  if (code === 0) return 200;
  const denied = (res["deniedResponse"] as { status?: { code?: unknown } } | undefined)?.status?.code;
  if (denied === undefined) return 403;
  const n = statusCodeFromJSON(denied);
  return n > 0 ? n : 403;
}

/** RateLimitResponse.overall_code as its enum name (OK, OVER_LIMIT, UNKNOWN). */
export function overallCodeOf(res: Record<string, unknown>): string {
  const c = res["overallCode"];
  return typeof c === "string" ? c : "UNKNOWN";
}
