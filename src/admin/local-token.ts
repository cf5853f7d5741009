import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/** One file per admin port, so two servers on one machine do not overwrite each other's token. */
export function localTokenPath(dir: string, port: number): string {
  return path.join(dir, `admin-${port}.token`);
}

/**
 * Generates a token and writes it readable by this user only (folder 0700, file 0600). The file is
 * removed and created anew, so a leftover file with wider permissions is never reused.
 */
export function writeLocalToken(dir: string, port: number): { token: string; file: string } {
  const token = randomBytes(32).toString("base64url");
  const file = localTokenPath(dir, port);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  rmSync(file, { force: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { token, file };
}

/** Removes the file if it still holds this token (a newer server on the same port may have replaced it). */
export function removeLocalToken(file: string, token: string): void {
  try {
    if (readFileSync(file, "utf8").trim() === token) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
