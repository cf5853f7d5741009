const LF = 0x0a;
const CR = 0x0d;

/**
 * Where a stop event may go in `chunk`: the number of its bytes to pass first so that what the
 * client holds ends at an event boundary, or undefined when the chunk has none. `tail` is the last
 * bytes already passed (4 are enough), empty at the start of the body.
 *
 * SSE: an event ends at a blank line, and lines end in LF, CRLF or a lone CR (Gemini sends CRLF
 * CRLF). A CR that ends the chunk may be the first half of a CRLF, so it is not a boundary yet.
 * NDJSON: a line ends at LF.
 */
export function stopPoint(framing: "sse" | "ndjson", tail: Uint8Array, chunk: Uint8Array): number | undefined {
  if (tail.length === 0) return 0;
  const seen = new Uint8Array(tail.length + chunk.length);
  seen.set(tail);
  seen.set(chunk, tail.length);
  for (let p = tail.length; p <= seen.length; p++) {
    if (framing === "ndjson" ? seen[p - 1] === LF : eventEndsAt(seen, p)) return p - tail.length;
  }
  return undefined;
}

/** Whether seen[0, p) ends with a line end that closes an empty line. */
function eventEndsAt(seen: Uint8Array, p: number): boolean {
  const last = seen[p - 1];
  let q: number;
  if (last === LF) q = seen[p - 2] === CR ? p - 2 : p - 1;
  else if (last === CR && p < seen.length && seen[p] !== LF) q = p - 1;
  else return false;
  return q >= 1 && (seen[q - 1] === LF || seen[q - 1] === CR);
}
