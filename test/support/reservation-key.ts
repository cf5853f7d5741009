import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface ReservationKeyFile {
  /** The file to pass as reservationKeyFile / --reservation-key-file. */
  file: string;
  /** The key as tollgate reads it (the file's text, trimmed). */
  key: Buffer;
  remove(): void;
}

/** A fresh random reservation key in a 0600 file, as an operator would write one (optionally with a trailing newline). */
export function writeReservationKey(opts: { trailingNewline?: boolean } = {}): ReservationKeyFile {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-key-"));
  const key = Buffer.from(randomBytes(48).toString("base64"));
  const file = path.join(dir, "reservation.key");
  writeFileSync(file, opts.trailingNewline ? `${key.toString()}\n` : key, { mode: 0o600 });
  return { file, key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
