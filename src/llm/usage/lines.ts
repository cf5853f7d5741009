/**
 * Splits decoded text into lines across chunk boundaries, as SSE defines them (CRLF, LF or a lone
 * CR; a CR at the end of one chunk and an LF at the start of the next are one line end). A line
 * longer than `maxChars` is not kept: `onOverflow` is called once and the rest of it is skipped.
 */
export class LineSplitter {
  private partial = "";
  private skipping = false;
  private afterCr = false;

  constructor(
    private readonly maxChars: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(text: string): void {
    let start = 0;
    if (this.afterCr && text.length > 0) {
      this.afterCr = false;
      if (text.charCodeAt(0) === 0x0a) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.lineEnd(text.slice(start, i));
      if (c === 0x0d) {
        if (i + 1 === text.length) this.afterCr = true;
        else if (text.charCodeAt(i + 1) === 0x0a) i += 1;
      }
      start = i + 1;
    }
    this.keep(text.slice(start));
  }

  /** End of input: a last line without a line end still counts. */
  flush(): void {
    if (this.partial.length > 0 && !this.skipping) this.onLine(this.partial);
    this.partial = "";
    this.skipping = false;
  }

  private lineEnd(tail: string): void {
    if (this.skipping) {
      this.skipping = false;
      return;
    }
    const line = this.partial.length === 0 ? tail : this.partial + tail;
    this.partial = "";
    if (line.length > this.maxChars) this.onOverflow();
    else this.onLine(line);
  }

  private keep(tail: string): void {
    if (this.skipping || tail.length === 0) return;
    if (this.partial.length + tail.length > this.maxChars) {
      this.partial = "";
      this.skipping = true;
      this.onOverflow();
      return;
    }
    this.partial += tail;
  }
}
