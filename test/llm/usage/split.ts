import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";

/** A small deterministic PRNG (mulberry32) so every random split can be replayed from its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `bytes` cut at `cuts` (sorted offsets). */
export function cutAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of cuts) {
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

/** Every split into two pieces: one per byte boundary (empty first and last pieces included). */
export function everyTwoWaySplit(bytes: Uint8Array): Uint8Array[][] {
  return Array.from({ length: bytes.length + 1 }, (_, i) => cutAt(bytes, [i]));
}

/** `count` splits into random pieces of 1 to `maxPiece` bytes. */
export function randomSplits(bytes: Uint8Array, count: number, seed: number, maxPiece = 64): Uint8Array[][] {
  const next = random(seed);
  return Array.from({ length: count }, () => {
    const cuts: number[] = [];
    for (let at = 1 + Math.floor(next() * maxPiece); at < bytes.length; at += 1 + Math.floor(next() * maxPiece)) cuts.push(at);
    return cutAt(bytes, cuts);
  });
}

/** One byte per chunk. */
export function byteByByte(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

export const ENCODINGS: readonly { name: string; encode: (b: Uint8Array) => Uint8Array }[] = [
  { name: "gzip", encode: (b) => gzipSync(b) },
  { name: "deflate", encode: (b) => deflateSync(b) },
  { name: "br", encode: (b) => brotliCompressSync(b) },
];
