import { createBrotliDecompress, createGunzip, createInflate, type Gunzip } from "node:zlib";

/** Content codings the reader decodes (RFC 9110 names; x-gzip is gzip's old alias). */
const DECOMPRESSORS: Readonly<Record<string, () => Gunzip>> = {
  gzip: createGunzip,
  "x-gzip": createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

export type DecodeProblem = "unsupported_encoding" | "corrupt_body";

/**
 * Body bytes to text, chunk by chunk: decompresses gzip/deflate/br incrementally with node:zlib and
 * decodes UTF-8 with a streaming TextDecoder, so a character split between two chunks is kept whole.
 * Identity bodies are decoded synchronously; compressed ones as zlib delivers (asynchronously), so
 * counts lag the last pushed chunk until zlib has caught up. Never throws.
 */
export class BodyDecoder {
  private readonly text = new TextDecoder("utf-8", { fatal: false });
  private readonly zlib: Gunzip | undefined;
  private readonly finished: Promise<void>;
  private broken = false;
  private received = 0;

  constructor(
    encoding: string | undefined,
    private readonly onText: (text: string) => void,
    private readonly onProblem: (p: DecodeProblem) => void,
  ) {
    const codings = (encoding ?? "")
      .toLowerCase()
      .split(",")
      .map((c) => c.trim())
      .filter((c) => c !== "" && c !== "identity");
    if (codings.length === 0) {
      this.finished = Promise.resolve();
      return;
    }
    const make = codings.length === 1 ? DECOMPRESSORS[codings[0]!] : undefined;
    if (make === undefined) {
      // Stacked or unknown codings: the body cannot be read, and saying so beats guessing.
      this.broken = true;
      onProblem("unsupported_encoding");
      this.finished = Promise.resolve();
      return;
    }
    const zlib = make();
    this.zlib = zlib;
    zlib.on("data", (chunk: Buffer) => {
      if (!this.broken) this.emit(chunk);
    });
    this.finished = new Promise((resolve) => {
      zlib.once("end", resolve);
      zlib.once("close", resolve);
      zlib.once("error", () => {
        this.fail();
        resolve();
      });
    });
  }

  push(chunk: Uint8Array): void {
    if (this.broken || chunk.byteLength === 0) return;
    this.received += chunk.byteLength;
    if (this.zlib === undefined) this.emit(chunk);
    else this.zlib.write(chunk);
  }

  /** Resolves once every pushed byte is decoded (or the body proved corrupt). */
  async end(): Promise<void> {
    if (this.zlib !== undefined && !this.broken) {
      // An empty body is no body, not a corrupt one (zlib would call it a truncated stream).
      if (this.received === 0) this.zlib.destroy();
      else this.zlib.end();
    }
    await this.finished;
    if (!this.broken) {
      const rest = this.text.decode();
      if (rest.length > 0) this.onText(rest);
    }
  }

  private emit(bytes: Uint8Array): void {
    const text = this.text.decode(bytes, { stream: true });
    if (text.length > 0) this.onText(text);
  }

  private fail(): void {
    if (this.broken) return;
    this.broken = true;
    this.onProblem("corrupt_body");
    this.zlib?.destroy();
  }
}
