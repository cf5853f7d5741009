import { CHECK_CALL, grpcurlCall, httpStatusOf, RLS_CALL } from "./grpc-call.js";
import type { CheckPayload, RlsPayload } from "./payloads.js";
import { waitFor } from "./proc.js";

export interface CheckVerdict {
  name: string;
  expected: number;
  actual: number;
}

/** Waits until the server answers the payload at all (any gRPC OK), up to timeoutMs. */
export async function waitReady(opts: { grpcurl: string; addr: string; call: string; body: unknown; what: string; timeoutMs?: number }): Promise<void> {
  await waitFor({
    what: opts.what,
    timeoutMs: opts.timeoutMs ?? 60_000,
    fn: async () => {
      await grpcurlCall({ grpcurl: opts.grpcurl, addr: opts.addr, call: opts.call, body: opts.body });
      return true;
    },
  });
}

/** Sends each payload once and reads the HTTP status Envoy would answer. */
export async function checkStatuses(opts: { grpcurl: string; addr: string; payloads: readonly CheckPayload[] }): Promise<CheckVerdict[]> {
  const out: CheckVerdict[] = [];
  for (const p of opts.payloads) {
    const res = await grpcurlCall({ grpcurl: opts.grpcurl, addr: opts.addr, call: CHECK_CALL, body: p.request });
    out.push({ name: p.name, expected: p.expectStatus, actual: httpStatusOf(res) });
  }
  return out;
}

export function mismatches(verdicts: readonly CheckVerdict[]): CheckVerdict[] {
  return verdicts.filter((v) => v.expected !== v.actual);
}

/** The parts of a RateLimitResponse both services must agree on (not headers or reset times). */
export function rlsShape(res: Record<string, unknown>): unknown {
  const statuses = (res["statuses"] as Record<string, unknown>[] | undefined) ?? [];
  return {
    overallCode: res["overallCode"] ?? "UNKNOWN",
    statuses: statuses.map((s) => ({ code: s["code"] ?? "UNKNOWN", currentLimit: s["currentLimit"] ?? null, limitRemaining: s["limitRemaining"] ?? 0 })),
  };
}

/** Sends each payload once (on fresh counters, which the caller arranges) and returns the comparable shape. */
export async function rlsShapes(opts: { grpcurl: string; addr: string; payloads: readonly RlsPayload[] }): Promise<{ name: string; shape: unknown }[]> {
  const out: { name: string; shape: unknown }[] = [];
  for (const p of opts.payloads) {
    const res = await grpcurlCall({ grpcurl: opts.grpcurl, addr: opts.addr, call: RLS_CALL, body: p.request });
    out.push({ name: p.name, shape: rlsShape(res) });
  }
  return out;
}
