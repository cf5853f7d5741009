import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { TollgateError } from "../../src/errors.js";
import {
  MAX_RESERVATION_BYTES,
  RESERVATION_MAX_AGE_MS,
  decodeReservation,
  encodeReservation,
  type Reservation,
} from "../../src/limits/reservation.js";

const KEY = randomBytes(32);
const NOW = 1_700_000_000_000;

const reservation = (): Reservation => ({
  v: 1,
  decisionId: "0b7e1c1e-5a8e-4d2b-9f3c-2f1a9c1d4e5f",
  provider: "openai",
  operation: "chat",
  model: "gpt-4o-mini",
  stream: true,
  estimatedInputTokens: 120,
  issuedAtMs: NOW,
  counters: [
    {
      name: "tenant_tokens_per_minute",
      key: "60s:tokens:acme",
      hashTag: "policy",
      algorithm: "fixed_window",
      windowSeconds: 60,
      windowStartMs: 1_699_999_980_000,
      limit: 20_000,
      reserved: 4_216,
      streamStop: true,
    },
  ],
});

function rejection(fn: () => unknown): TollgateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError);
    return err as TollgateError;
  }
  throw new Error("expected a rejection");
}

describe("reservation handle", () => {
  test("what encodeReservation writes, decodeReservation reads back unchanged, through JSON (as Envoy's Struct carries it)", () => {
    const value = encodeReservation(reservation(), KEY);
    const forwarded: unknown = JSON.parse(JSON.stringify(value));
    expect(decodeReservation(forwarded, KEY, NOW + 5_000)).toEqual(reservation());
  });

  test("the value is plain strings and a version number, nothing in the clear but the base64url payload", () => {
    const value = encodeReservation(reservation(), KEY);
    expect(Object.keys(value).sort()).toEqual(["payload", "sig", "v"]);
    expect(value["v"]).toBe(1);
    expect(value["payload"]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(value["sig"]).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("a reservation signed with another key is refused", () => {
    const value = encodeReservation(reservation(), randomBytes(32));
    const e = rejection(() => decodeReservation(value, KEY, NOW));
    expect(e.code).toBe("reservation_invalid");
    expect(e.message).toMatch(/bad signature/);
  });

  test("a forged payload (bigger reservation to refund more) is refused", () => {
    const value = encodeReservation(reservation(), KEY);
    const forged = { ...reservation(), counters: [{ ...reservation().counters[0]!, reserved: 1_000_000 }] };
    const payload = Buffer.from(JSON.stringify(forged)).toString("base64url");
    expect(rejection(() => decodeReservation({ ...value, payload }, KEY, NOW)).message).toMatch(/bad signature/);
  });

  test("a signature of the wrong length or not base64url is refused without throwing anything else", () => {
    const value = encodeReservation(reservation(), KEY);
    for (const sig of ["", "abc", "!!!!", `${String(value["sig"])}AA`]) {
      expect(rejection(() => decodeReservation({ ...value, sig }, KEY, NOW)).code).toBe("reservation_invalid");
    }
  });

  test.each<[string, unknown, RegExp]>([
    ["missing", undefined, /missing/],
    ["null", null, /missing/],
    ["a string", "v1.abc.def", /expected an object/],
    ["an array", [1, 2], /expected an object/],
    ["another version", { v: 2, payload: "x", sig: "y" }, /unsupported version 2/],
    ["a numeric payload", { v: 1, payload: 5, sig: "y" }, /must be strings/],
  ])("%s is refused with reservation_invalid", (_title, value, message) => {
    const e = rejection(() => decodeReservation(value, KEY, NOW));
    expect(e.code).toBe("reservation_invalid");
    expect(e.message).toMatch(message);
  });

  test("a payload over the size bound is refused before its signature is computed", () => {
    const e = rejection(() => decodeReservation({ v: 1, payload: "A".repeat(MAX_RESERVATION_BYTES + 1), sig: "x" }, KEY, NOW));
    expect(e.message).toMatch(/above 65536/);
  });

  test("a correctly signed payload that is not a reservation is refused as malformed", () => {
    // Re-sign a wrong shape with the right key: only the schema stands in the way.
    const wrong = { ...reservation(), counters: [{ ...reservation().counters[0]!, algorithm: "leaky_bucket" }] };
    const resigned = (payloadObject: unknown): Record<string, unknown> => {
      const payload = Buffer.from(JSON.stringify(payloadObject)).toString("base64url");
      return { v: 1, payload, sig: signLike(payload) };
    };
    expect(rejection(() => decodeReservation(resigned(wrong), KEY, NOW)).message).toMatch(/malformed/);
    expect(rejection(() => decodeReservation(resigned({ ...reservation(), extra: 1 }), KEY, NOW)).message).toMatch(/malformed/);
  });

  test("a reservation older than the maximum age, or from too far in the future, is refused", () => {
    const value = encodeReservation(reservation(), KEY);
    expect(decodeReservation(value, KEY, NOW + RESERVATION_MAX_AGE_MS).issuedAtMs).toBe(NOW);
    expect(rejection(() => decodeReservation(value, KEY, NOW + RESERVATION_MAX_AGE_MS + 1)).message).toMatch(/older than 3600 s/);
    expect(rejection(() => decodeReservation(value, KEY, NOW - 61_000)).message).toMatch(/in the future/);
  });

  test("a key shorter than 32 bytes is a configuration error, on both sides", () => {
    expect(rejection(() => encodeReservation(reservation(), randomBytes(16))).code).toBe("config_error");
    expect(rejection(() => decodeReservation({}, randomBytes(31), NOW)).code).toBe("config_error");
  });

  test("encode refuses what decode would refuse (no handle that cannot be read back)", () => {
    const e = rejection(() => encodeReservation({ ...reservation(), estimatedInputTokens: -1 }, KEY));
    expect(e.code).toBe("internal_error");
  });
});

/** The signature encodeReservation computes, recomputed from its documented definition. */
function signLike(payload: string): string {
  // HMAC-SHA256 over "tollgate-reservation-v1\n" + payload, base64url.
  return createHmac("sha256", KEY).update("tollgate-reservation-v1\n").update(payload).digest("base64url");
}
