import { DecisionLogSink, decisionLogEvent, type DecisionLogEvent } from "../../src/decision-log/index.js";
import { deadPort } from "./log-server.js";

/** A small, fixed-size event: d00, d01, … so every event serialises to the same number of bytes. */
export function ev(i: number, input: unknown = { attributes: { request: { http: { method: "GET", path: "/v1/models" } } } }): DecisionLogEvent {
  return decisionLogEvent({
    decisionId: `d${String(i).padStart(2, "0")}`,
    path: "envoy/authz/allow",
    revision: "rev-1",
    bundleName: "authz",
    input,
    result: { allowed: true },
    timestamp: new Date("2025-03-01T10:00:00.000Z"),
    evalNs: 1200,
    handlerNs: 5400,
  });
}

export const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => `d${String(from + k).padStart(2, "0")}`);

/** Bytes one ev() takes in the sink's buffer once labelled and masked, measured through a sink. */
export async function encodedSize(): Promise<number> {
  const probe = new DecisionLogSink({ url: await deadPort(), flushIntervalMs: 60_000, closeTimeoutMs: 1 });
  probe.enqueue(ev(0));
  const bytes = probe.stats().bufferedBytes;
  await probe.close();
  return bytes;
}
