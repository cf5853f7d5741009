import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { MIN_RESERVATION_KEY_BYTES } from "./reservation.js";

/**
 * The HMAC key that signs reservation handles. From `reservationKeyFile` (its bytes, surrounding
 * whitespace trimmed; at least 32), which every replica must share so that any of them can
 * reconcile what another reserved. Without it, a random key for this process: fine for one
 * replica, and said so once at start. The key itself is never logged.
 */
export function loadReservationKey(file: string | undefined, logger: Logger): Uint8Array {
  if (file === undefined) {
    logger.warn(
      { event: "reservation_key_random" },
      "reservationKeyFile is not set: reservations are signed with a random key of this process; with more than one replica, give them all the same reservationKeyFile",
    );
    return randomBytes(32);
  }
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    throw new TollgateError("config_error", `reservationKeyFile ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const key = Buffer.from(content.toString("latin1").trim(), "latin1");
  if (key.length < MIN_RESERVATION_KEY_BYTES) {
    throw new TollgateError("config_error", `reservationKeyFile ${file} holds ${key.length} bytes; at least ${MIN_RESERVATION_KEY_BYTES} are needed (for example: openssl rand -base64 48 > ${file})`);
  }
  return key;
}
