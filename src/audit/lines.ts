import { closeSync, openSync, readSync } from "node:fs";
import { TollgateError } from "../errors.js";

export interface FileLine {
  /** 1-based line number. */
  number: number;
  text: string;
  /** false for a last line with no newline after it (an interrupted write). */
  terminated: boolean;
  /** the line is longer than the limit; text is empty. */
  tooLong: boolean;
  /** the bytes are not valid UTF-8; text is empty. */
  badUtf8: boolean;
}

const CHUNK = 64 * 1024;

function isMissing(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ENOENT";
}

/** Opens for reading, or undefined when the file does not exist. */
export function openIfExists(file: string): number | undefined {
  try {
    return openSync(file, "r");
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new TollgateError("config_error", `cannot read audit file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a file line by line in fixed chunks, so memory stays bounded by maxLineBytes whatever the file size. */
export function* readLines(file: string, maxLineBytes: number): Generator<FileLine> {
  const fd = openIfExists(file);
  if (fd === undefined) return;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (bytes: Buffer): string | undefined => {
    try {
      return decoder.decode(bytes);
    } catch {
      return undefined;
    }
  };
  try {
    const chunk = Buffer.allocUnsafe(CHUNK);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let tooLong = false;
    let number = 0;
    const finish = (terminated: boolean): FileLine => {
      number++;
      const bytes = Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      const wasTooLong = tooLong;
      tooLong = false;
      if (wasTooLong) return { number, text: "", terminated, tooLong: true, badUtf8: false };
      const text = decode(bytes);
      return { number, text: text ?? "", terminated, tooLong: false, badUtf8: text === undefined };
    };
    const append = (bytes: Buffer): void => {
      if (tooLong) return;
      pendingBytes += bytes.length;
      if (pendingBytes > maxLineBytes) {
        tooLong = true;
        pending = [];
        return;
      }
      pending.push(Buffer.from(bytes));
    };
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      const view = chunk.subarray(0, n);
      let start = 0;
      for (let nl = view.indexOf(10, start); nl !== -1; nl = view.indexOf(10, start)) {
        append(view.subarray(start, nl));
        yield finish(true);
        start = nl + 1;
      }
      if (start < n) append(view.subarray(start));
    }
    if (pendingBytes > 0 || tooLong) yield finish(false);
  } finally {
    closeSync(fd);
  }
}
