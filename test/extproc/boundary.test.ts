import { describe, expect, it } from "vitest";
import { stopPoint } from "../../src/extproc/boundary.js";

const b = (s: string): Uint8Array => Buffer.from(s, "latin1");

describe("stopPoint: where a stop event may go so the client's bytes end at an event boundary", () => {
  const sse: [string, string, string, number | undefined][] = [
    ["start of the body", "", "data: x\n\n", 0],
    ["the client already holds a whole event (LF)", "x\n\n", "data: y", 0],
    ["the client already holds a whole event (CRLF, Gemini)", "\r\n\r\n", "data: y", 0],
    ["mid-event: up to the blank line (LF)", "ata:", " x\n\ndata: y", 4],
    ["mid-event: up to the blank line (CRLF)", "ata:", " x\r\n\r\ndata: y", 6],
    ["a blank line split across chunks (CRLF)", "x\r\n\r", "\ndata: y", 1],
    ["lone CRs", "ta x", "\r\rdata: y", 2],
    ["mixed LF then CRLF", "ta x", "\n\r\ndata: y", 3],
    ["one line end is not a boundary", "ta x", "\r\ndata: y\r\n", undefined],
    ["a CR that ends the chunk may be half of a CRLF", "ta x", "\r\n\r", undefined],
    ["no line end at all", "ta x", "yyyy", undefined],
  ];
  it.each(sse)("SSE, %s", (_title, tail, chunk, expected) => {
    expect(stopPoint("sse", b(tail), b(chunk))).toBe(expected);
  });

  it("NDJSON: after the next LF (CRLF lines too), 0 when the client holds whole lines", () => {
    expect(stopPoint("ndjson", b('"a"}'), b('\n{"b"'))).toBe(1);
    expect(stopPoint("ndjson", b('"a"}'), b('\r\n{"b"'))).toBe(2);
    expect(stopPoint("ndjson", b('"a"}\n'), b('{"b"'))).toBe(0);
    expect(stopPoint("ndjson", b('"a"}'), b('{"b"'))).toBeUndefined();
  });
});
