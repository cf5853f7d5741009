import { LineSplitter } from "./lines.js";

export interface SseEvent {
  /** The `event:` field; undefined for the default "message" type. */
  event: string | undefined;
  data: string;
}

/**
 * Incremental text/event-stream parser (WHATWG server-sent events): `event:` and `data:` fields,
 * comments, a blank line dispatches. An event whose lines add up to more than `maxChars` is dropped
 * whole and reported once through `onOverflow`; parsing resumes at the next event.
 */
export class SseParser {
  private readonly lines: LineSplitter;
  private event: string | undefined;
  private data: string[] = [];
  private size = 0;
  private hasData = false;
  private dropping = false;

  constructor(
    private readonly maxChars: number,
    private readonly onEvent: (e: SseEvent) => void,
    private readonly onOverflow: () => void,
  ) {
    this.lines = new LineSplitter(maxChars, (line) => this.line(line), () => this.overflow());
  }

  push(text: string): void {
    this.lines.push(text);
  }

  /** End of stream: an event the upstream did not close with a blank line is still read. */
  end(): void {
    this.lines.flush();
    this.dispatch();
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    if (this.dropping || line.charCodeAt(0) === 0x3a /* ":" comment */) return;
    this.size += line.length;
    if (this.size > this.maxChars) {
      this.overflow();
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") {
      this.data.push(value);
      this.hasData = true;
    }
  }

  private overflow(): void {
    if (!this.dropping) this.onOverflow();
    this.dropping = true;
    this.data = [];
  }

  private dispatch(): void {
    const { event, data, hasData, dropping } = this;
    this.event = undefined;
    this.data = [];
    this.size = 0;
    this.hasData = false;
    this.dropping = false;
    if (!dropping && hasData) this.onEvent({ event, data: data.join("\n") });
  }
}
