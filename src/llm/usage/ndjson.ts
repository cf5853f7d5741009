import { LineSplitter } from "./lines.js";

/** Newline-delimited JSON (Ollama's streams): one document a line, blank lines skipped. */
export class NdjsonReader {
  private readonly lines: LineSplitter;

  constructor(maxChars: number, onLine: (line: string) => void, onOverflow: () => void) {
    this.lines = new LineSplitter(
      maxChars,
      (line) => {
        if (line.trim().length > 0) onLine(line);
      },
      onOverflow,
    );
  }

  push(text: string): void {
    this.lines.push(text);
  }

  end(): void {
    this.lines.flush();
  }
}
