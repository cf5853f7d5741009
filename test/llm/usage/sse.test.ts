import { createParser, type EventSourceMessage } from "eventsource-parser";
import { describe, expect, it } from "vitest";
import { NdjsonReader } from "../../../src/llm/usage/ndjson.js";
import { SseParser, type SseEvent } from "../../../src/llm/usage/sse.js";
import { random } from "./split.js";

/** Every way the spec lets a stream be written: all three line ends, comments, multi-line data, named events, ids, fields without a colon or space. */
function sseText(seed: number): string {
  const next = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const eol = (): string => pick(["\n", "\r\n", "\r"]);
  let out = "";
  for (let e = 0; e < 12; e++) {
    const lines: string[] = [];
    if (next() < 0.3) lines.push(pick([": keep-alive", ":", ": ping 日本"]));
    if (next() < 0.5) lines.push(`event: ${pick(["message_start", "content_block_delta", "error", "response.completed"])}`);
    if (next() < 0.2) lines.push(`id: ${e}`);
    const dataLines = Math.floor(next() * 3);
    for (let d = 0; d < dataLines; d++) lines.push(pick([`data: {"n":${e},"t":"héllo 👋🏽"}`, "data:no-space", "data:", "data:  two spaces", "data"]));
    if (next() < 0.1) lines.push("retry: 1000");
    out += lines.map((l) => l + eol()).join("") + eol();
  }
  // A CR line end followed by an LF blank line reads as one CRLF: close the last event for sure.
  return `${out}\n`;
}

function ours(pieces: readonly string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser(1 << 20, (e) => events.push(e), () => events.push({ event: "OVERFLOW", data: "" }));
  for (const p of pieces) parser.push(p);
  parser.end();
  return events;
}

function reference(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push({ event: e.event, data: e.data }) });
  parser.feed(text);
  return events;
}

describe("SSE parser: the same events as eventsource-parser, whatever the chunk boundaries", () => {
  it.each(Array.from({ length: 12 }, (_, seed) => ({ seed })))("generated stream #$seed – every two-way split and char by char", ({ seed }) => {
    const text = sseText(seed);
    const expected = reference(text);
    expect(expected.length).toBeGreaterThan(0);
    expect(ours([text])).toEqual(expected);
    expect(ours([...text])).toEqual(expected);
    for (let i = 0; i <= text.length; i++) expect(ours([text.slice(0, i), text.slice(i)])).toEqual(expected);
  });

  it("a CR at the end of one chunk and the LF starting the next are one line end", () => {
    expect(ours(["data: a\r", "\ndata: b\r\n\r\n"])).toEqual([{ event: undefined, data: "a\nb" }]);
  });

  it("an event the stream never closed with a blank line is still read at end()", () => {
    expect(ours(["event: message_delta\ndata: {}"])).toEqual([{ event: "message_delta", data: "{}" }]);
  });

  it("an over-long line is reported once and the parser resumes at the next event", () => {
    const events: SseEvent[] = [];
    let overflows = 0;
    const parser = new SseParser(16, (e) => events.push(e), () => (overflows += 1));
    parser.push("data: 0123456789abcdef0123\ndata: more\n\ndata: ok\n\n");
    expect({ overflows, events }).toEqual({ overflows: 1, events: [{ event: undefined, data: "ok" }] });
  });
});

describe("NDJSON reader", () => {
  it("lines across chunks, CRLF, blank lines skipped, a last line without newline kept", () => {
    const lines: string[] = [];
    const reader = new NdjsonReader(1 << 20, (l) => lines.push(l), () => lines.push("OVERFLOW"));
    for (const piece of ['{"a":', '1}\r\n\n', '{"b":2}\n{"c"', ":3}"]) reader.push(piece);
    reader.end();
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });
});
