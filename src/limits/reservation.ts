import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { TollgateError } from "../errors.js";
import { MAX_UNITS, MAX_WINDOW_SECONDS } from "./keys.js";
import type { ReservedCounter } from "./types.js";

export type { ReservedCounter } from "./types.js";

/**
 * What Check reserved for one admitted request, handed to the ext_proc server through Envoy's
 * dynamic metadata (namespace envoy.filters.http.ext_authz, key RESERVATION_METADATA_KEY). It is all
 * a replica needs to reconcile: no server-side session state. It is signed (HMAC-SHA256) because it
 * travels through Envoy: a forged one could refund a tenant's counters.
 */
export interface Reservation {
  v: 1;
  decisionId: string;
  provider: string;
  operation: string;
  model: string;
  stream: boolean;
  estimatedInputTokens: number;
  issuedAtMs: number;
  /** Only the limits the policy marked reconcile: true. */
  counters: ReservedCounter[];
}

export const RESERVATION_METADATA_KEY = "tollgate_reservation";
/** Longest a reservation stays reconcilable: far above any LLM response, short enough to bound replay. */
export const RESERVATION_MAX_AGE_MS = 60 * 60 * 1000;
/** How far in the future issuedAtMs may be (clocks of replicas differ a little). */
export const RESERVATION_CLOCK_SKEW_MS = 60 * 1000;
/** Largest encoded payload accepted (32 counters with 512-character keys and names fit). */
export const MAX_RESERVATION_BYTES = 64 * 1024;
/** Shortest HMAC key accepted. */
export const MIN_RESERVATION_KEY_BYTES = 32;

const SIGNATURE_CONTEXT = "tollgate-reservation-v1\n";
const MAX_COUNTERS = 32;
const text = (max: number) => z.string().max(max);
const units = z.number().int().min(0).max(MAX_UNITS);
const epochMs = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const counterSchema = z
  .object({
    name: text(512),
    key: text(1024).min(1),
    hashTag: text(512).min(1),
    algorithm: z.enum(["fixed_window", "sliding_window", "token_bucket"]),
    windowSeconds: z.number().int().min(1).max(MAX_WINDOW_SECONDS),
    windowStartMs: epochMs,
    limit: units,
    reserved: units,
    streamStop: z.boolean(),
  })
  .strict();

const reservationSchema = z
  .object({
    v: z.literal(1),
    decisionId: text(128),
    provider: text(64),
    operation: text(64),
    model: text(512),
    stream: z.boolean(),
    estimatedInputTokens: units,
    issuedAtMs: epochMs,
    counters: z.array(counterSchema).max(MAX_COUNTERS),
  })
  .strict();

function invalid(message: string): TollgateError {
  return new TollgateError("reservation_invalid", `reservation: ${message}`);
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length < MIN_RESERVATION_KEY_BYTES) {
    throw new TollgateError("config_error", `reservation key must be at least ${MIN_RESERVATION_KEY_BYTES} bytes`);
  }
}

function sign(payload: string, key: Uint8Array): Buffer {
  return createHmac("sha256", key).update(SIGNATURE_CONTEXT).update(payload).digest();
}

/**
 * The JSON-able value for Check's dynamic_metadata: { v: 1, payload, sig } with the reservation as
 * base64url JSON and its HMAC-SHA256 (base64url). Throws config_error for a short key, and
 * internal_error when the reservation is not one decodeReservation would accept.
 */
export function encodeReservation(r: Reservation, key: Uint8Array): Record<string, unknown> {
  checkKey(key);
  const parsed = reservationSchema.safeParse(r);
  if (!parsed.success) throw new TollgateError("internal_error", `reservation: cannot encode: ${z.prettifyError(parsed.error)}`);
  const payload = Buffer.from(JSON.stringify(parsed.data)).toString("base64url");
  if (payload.length > MAX_RESERVATION_BYTES) throw new TollgateError("internal_error", `reservation: ${payload.length} bytes encoded, above ${MAX_RESERVATION_BYTES}`);
  return { v: 1, payload, sig: sign(payload, key).toString("base64url") };
}

/**
 * Reads and verifies what encodeReservation wrote. Throws TollgateError("reservation_invalid")
 * when it is missing, malformed, over MAX_RESERVATION_BYTES, badly signed, issued more than
 * RESERVATION_MAX_AGE_MS ago or more than RESERVATION_CLOCK_SKEW_MS ahead of nowMs.
 */
export function decodeReservation(value: unknown, key: Uint8Array, nowMs: number): Reservation {
  checkKey(key);
  if (value === undefined || value === null) throw invalid("missing");
  if (typeof value !== "object" || Array.isArray(value)) throw invalid("expected an object { v, payload, sig }");
  const { v, payload, sig } = value as Record<string, unknown>;
  if (v !== 1) throw invalid(`unsupported version ${JSON.stringify(v) ?? "undefined"}`);
  if (typeof payload !== "string" || typeof sig !== "string") throw invalid("payload and sig must be strings");
  if (payload.length > MAX_RESERVATION_BYTES) throw invalid(`payload of ${payload.length} bytes is above ${MAX_RESERVATION_BYTES}`);
  const expected = sign(payload, key);
  const given = Buffer.from(sig, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid("bad signature");

  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw invalid("payload is not base64url JSON");
  }
  const parsed = reservationSchema.safeParse(json);
  if (!parsed.success) throw invalid(`malformed: ${z.prettifyError(parsed.error)}`);
  const r = parsed.data;
  if (nowMs - r.issuedAtMs > RESERVATION_MAX_AGE_MS) throw invalid(`issued ${Math.round((nowMs - r.issuedAtMs) / 1000)} s ago, older than ${RESERVATION_MAX_AGE_MS / 1000} s`);
  if (r.issuedAtMs - nowMs > RESERVATION_CLOCK_SKEW_MS) throw invalid(`issued ${Math.round((r.issuedAtMs - nowMs) / 1000)} s in the future`);
  return r;
}
