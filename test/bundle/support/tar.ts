import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";

/** A hand-made tar entry, so tests can build archives no well-behaved tool would write. */
export interface TarEntry {
  name: string;
  content?: Buffer | string;
  /** ustar typeflag: "0" file (default), "\0" old-style file, "5" dir, "2" symlink, "x" PAX header, "L" GNU long name. */
  type?: string;
  linkname?: string;
  /** ustar prefix field (joined to name with "/"). */
  prefix?: string;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

function header(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(entry.name, 0, 100, "utf8");
  h.write(octal(0o644, 8), 100, "latin1");
  h.write(octal(0, 8), 108, "latin1");
  h.write(octal(0, 8), 116, "latin1");
  h.write(octal(size, 12), 124, "latin1");
  h.write(octal(0, 12), 136, "latin1");
  h.write(" ".repeat(8), 148, "latin1");
  h.write(entry.type ?? "0", 156, "latin1");
  if (entry.linkname) h.write(entry.linkname, 157, 100, "utf8");
  h.write("ustar\x0000", 257, "latin1");
  if (entry.prefix) h.write(entry.prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return h;
}

export function tar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? "");
    blocks.push(header(entry, content.length), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function tarGz(entries: TarEntry[]): Buffer {
  return gzipSync(tar(entries));
}

export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length++;
  return `${length}${body}`;
}

/** Unpacks with the system tar (an independent reader), keeping archive order and OPA's "/" prefixes. */
export function unpack(bytes: Buffer): [string, Buffer][] {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tg-unpack-"));
  try {
    const file = path.join(dir, "b.tar.gz");
    writeFileSync(file, bytes);
    const names = execFileSync("tar", ["-tzf", file], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n").filter((n) => n && !n.endsWith("/"));
    execFileSync("tar", ["-xzf", file, "-C", dir], { stdio: "ignore" });
    return names.map((n) => [n, readFileSync(path.join(dir, n))]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rebuilds an archive after editing its files (names keep their leading "/", as OPA writes them). */
export function repack(bytes: Buffer, edit: (files: Map<string, Buffer>) => void): Buffer {
  const files = new Map(unpack(bytes));
  edit(files);
  return tarGz([...files].map(([name, content]) => ({ name, content })));
}
