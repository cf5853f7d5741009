import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gunzip as gunzipCallback, gunzipSync } from "node:zlib";
import { TollgateError } from "../errors.js";

export interface BundleLimits {
  /** Compressed size of the .tar.gz as downloaded or read from disk. */
  maxArchiveBytes: number;
  /** Total size after gunzip (tar headers included): the gzip-bomb guard. */
  maxUncompressedBytes: number;
  maxFileBytes: number;
  maxFiles: number;
}

export const DEFAULT_BUNDLE_LIMITS: Readonly<BundleLimits> = {
  maxArchiveBytes: 64 * 1024 * 1024,
  maxUncompressedBytes: 256 * 1024 * 1024,
  maxFileBytes: 128 * 1024 * 1024,
  maxFiles: 10_000,
};

export interface BundleArchive {
  /** Regular files by normalized path ("policy.wasm", ".manifest", "a/b/data.json"), in archive order. */
  files: ReadonlyMap<string, Buffer>;
  /** SHA-256 (hex) of the archive bytes: identifies the exact bundle for de-duplication and persistence. */
  digest: string;
  size: number;
}

const BLOCK = 512;

function invalid(message: string): TollgateError {
  return new TollgateError("policy_build_error", `bundle archive: ${message}`);
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString("utf8");
}

/** Octal, or GNU base-256 when the high bit of the first byte is set. */
function numeric(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  if (((field[0] as number) & 0x80) !== 0) {
    let value = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] as number);
    if (!Number.isSafeInteger(value)) throw invalid(`${what} out of range`);
    return value;
  }
  const text = field.toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw invalid(`malformed ${what} field`);
  return parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  const field = block.subarray(148, 156).toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed;
}

/** PAX records: "<len> <key>=<value>\n". */
function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const length = space === -1 ? NaN : Number(data.subarray(pos, space).toString("latin1"));
    if (!Number.isInteger(length) || length <= 0 || pos + length > data.length) throw invalid("malformed PAX header");
    const record = data.subarray(space + 1, pos + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq <= 0) throw invalid("malformed PAX record");
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return out;
}

/**
 * Normalizes an archive member path: OPA writes "/policy.wasm"; hand-made archives often hold
 * "./policy.wasm". Anything that could name a location outside the bundle is refused.
 */
export function normalizeBundlePath(raw: string): string {
  let p = raw;
  while (p.startsWith("/") || p.startsWith("./")) p = p.startsWith("/") ? p.slice(1) : p.slice(2);
  const segments = p.split("/");
  if (p === "" || raw.includes("\\") || segments.some((s) => s === "" || s === "." || s === "..")) {
    throw invalid(`unsafe path ${JSON.stringify(raw)}`);
  }
  return p;
}

function gunzipError(err: unknown, limits: BundleLimits): TollgateError {
  const code = (err as { code?: unknown }).code;
  if (code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
    return new TollgateError("policy_build_error", `bundle archive: uncompressed size exceeds the limit of ${limits.maxUncompressedBytes} bytes`, { cause: err });
  }
  return new TollgateError("policy_build_error", `bundle archive: not a gzip stream (${(err as Error).message})`, { cause: err });
}

function gunzip(bytes: Buffer, limits: BundleLimits): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: limits.maxUncompressedBytes });
  } catch (err) {
    throw gunzipError(err, limits);
  }
}

const gunzipAsync = promisify(gunzipCallback);

/**
 * readBundleArchive with the gunzip on libuv's thread pool instead of the event loop: a server
 * reading the bundle of each policy edit while it answers Checks (8 ms for the shipped policy's
 * bundle on the development machine, in one piece).
 */
export async function readBundleArchiveAsync(bytes: Buffer, limitsIn: Partial<BundleLimits> = {}): Promise<BundleArchive> {
  const limits: BundleLimits = { ...DEFAULT_BUNDLE_LIMITS, ...limitsIn };
  if (bytes.length > limits.maxArchiveBytes) {
    throw invalid(`size ${bytes.length} bytes exceeds the limit of ${limits.maxArchiveBytes} bytes`);
  }
  const tar = await gunzipAsync(bytes, { maxOutputLength: limits.maxUncompressedBytes }).catch((err: unknown) => {
    throw gunzipError(err, limits);
  });
  return readTar(bytes, tar, limits);
}

/**
 * Reads an OPA bundle (.tar.gz) into memory. Like OPA's tarball loader it keeps only regular
 * files (directories, links and devices are skipped); unlike it, unsafe paths, duplicate paths
 * and oversize archives, files or file counts are refused with a clear error.
 */
export function readBundleArchive(bytes: Buffer, limitsIn: Partial<BundleLimits> = {}): BundleArchive {
  const limits: BundleLimits = { ...DEFAULT_BUNDLE_LIMITS, ...limitsIn };
  if (bytes.length > limits.maxArchiveBytes) {
    throw invalid(`size ${bytes.length} bytes exceeds the limit of ${limits.maxArchiveBytes} bytes`);
  }
  return readTar(bytes, gunzip(bytes, limits), limits);
}

function readTar(bytes: Buffer, tar: Buffer, limits: BundleLimits): BundleArchive {
  const files = new Map<string, Buffer>();
  let pos = 0;
  let longName: string | undefined;
  let pax: Map<string, string> | undefined;
  while (pos + BLOCK <= tar.length) {
    const header = tar.subarray(pos, pos + BLOCK);
    if (header.every((b) => b === 0)) break;
    if (!checksumMatches(header)) throw invalid(`invalid tar header at offset ${pos}`);
    const paxSize = pax?.get("size");
    const size = paxSize !== undefined ? Number(paxSize) : numeric(header, 124, 12, "size");
    if (!Number.isSafeInteger(size) || size < 0) throw invalid("malformed size");
    const dataStart = pos + BLOCK;
    if (dataStart + size > tar.length) throw invalid("truncated archive");
    const data = tar.subarray(dataStart, dataStart + size);
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    const type = String.fromCharCode(header[156] as number);
    if (type === "x") {
      pax = paxRecords(data);
      continue;
    }
    if (type === "L") {
      longName = cString(data, 0, data.length);
      continue;
    }
    if (type === "g" || type === "K") continue;

    const ustar = header.subarray(257, 265).toString("latin1") === "ustar\x0000";
    const prefix = ustar ? cString(header, 345, 155) : "";
    const name = pax?.get("path") ?? longName ?? (prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100));
    pax = undefined;
    longName = undefined;

    const regular = type === "0" || (type === "\0" && !name.endsWith("/"));
    if (!regular) continue;
    const file = normalizeBundlePath(name);
    if (size > limits.maxFileBytes) throw invalid(`file ${file} is ${size} bytes, above the limit of ${limits.maxFileBytes} bytes`);
    if (files.has(file)) throw invalid(`file ${file} appears twice`);
    if (files.size >= limits.maxFiles) throw invalid(`more than ${limits.maxFiles} files`);
    files.set(file, Buffer.from(data));
  }
  return { files, digest: createHash("sha256").update(bytes).digest("hex"), size: bytes.length };
}
