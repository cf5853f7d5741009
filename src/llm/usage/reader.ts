import { TollgateError } from "../../errors.js";
import { PROVIDERS } from "../providers/registry.js";
import type { ProviderId } from "../types.js";
import { BodyDecoder } from "./decode.js";
import { usageFormat } from "./formats/registry.js";
import type { UsageFormat } from "./formats/types.js";
import { JsonDocumentReader } from "./json-document.js";
import { NdjsonReader } from "./ndjson.js";
import { SseParser } from "./sse.js";
import { UsageTally, type UsageCount } from "./tally.js";

export interface UsageReaderOptions {
  provider: ProviderId;
  /** input.llm.operation: chat, completion, responses, embedding, count_tokens. */
  operation: string;
  /** From the reservation; a content type of text/event-stream or application/x-ndjson also means a stream. */
  stream: boolean;
  contentType?: string;
  /** gzip / x-gzip / deflate / br / identity; decoded incrementally. */
  contentEncoding?: string;
  /**
   * Bound on one buffered SSE event, NDJSON line, or single JSON string/number of a plain JSON
   * response, in decoded characters. Default DEFAULT_MAX_EVENT_BYTES.
   */
  maxEventBytes?: number;
}

export interface UsageReader {
  /** Feed the next body chunk exactly as it arrived (boundaries anywhere, even mid UTF-8 character). Never throws. */
  push(chunk: Uint8Array): void;
  /** Best count so far (reported fields where seen, else output estimated from the streamed text). */
  current(): UsageCount;
  /**
   * End of body: flush and return the final count. Never rejects. `cut`: the body was cut short
   * (the client left); the event or gzip block the cut split is still read if it can be, but what
   * cannot is the cut's doing, not bad input, and is not counted as malformed.
   */
  end(options?: { cut?: boolean }): Promise<UsageCount>;
  /** Events/documents that could not be read: malformed SSE or JSON, JSON not in the provider's schema, over the bound, undecodable body. */
  readonly malformed: number;
}

/**
 * 4 MiB: far above any usage-bearing event (OpenAI's response.completed repeats the whole output,
 * so it is the largest), small enough that a hostile stream costs little.
 */
export const DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024;

type Framing = "sse" | "ndjson" | "json";

function framingOf(o: UsageReaderOptions, format: UsageFormat): Framing {
  const type = (o.contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "text/event-stream") return "sse";
  if (type === "application/x-ndjson" || type === "application/ndjson" || type === "application/jsonl") return "ndjson";
  if (type !== "") return "json";
  return o.stream ? format.streamFraming : "json";
}

const OPERATION_ALIASES: Readonly<Record<string, string>> = { messages: "chat", embeddings: "embedding", completions: "completion" };

class Reader implements UsageReader {
  malformed = 0;
  private readonly tally: UsageTally;
  private readonly decoder: BodyDecoder;
  private readonly feed: { push(text: string): void; end(): void };
  private ended: Promise<UsageCount> | undefined;

  constructor(o: UsageReaderOptions) {
    const spec = PROVIDERS[o.provider];
    if (spec === undefined) throw new TollgateError("internal_error", `no usage format for LLM provider ${JSON.stringify(o.provider)}`);
    const format = usageFormat(o.provider, OPERATION_ALIASES[o.operation] ?? o.operation);
    const max = o.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    if (!Number.isInteger(max) || max < 1) throw new TollgateError("internal_error", `maxEventBytes must be a positive integer, got ${max}`);
    this.tally = new UsageTally(spec.tokenProfile(null), format.cacheInInput);
    if (format.free) this.tally.report({ input: 0, output: 0 }, true);
    const bad = (): void => {
      this.malformed += 1;
    };
    const onJson = (name: string | undefined, text: string): void => {
      if (format.sentinels?.includes(text.trim())) return;
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch {
        bad();
        return;
      }
      if (format.event(name, data, this.tally) === "malformed") bad();
    };
    switch (framingOf(o, format)) {
      case "sse":
        this.feed = new SseParser(max, (e) => onJson(e.event, e.data), bad);
        break;
      case "ndjson":
        this.feed = new NdjsonReader(max, (line) => onJson(undefined, line), bad);
        break;
      case "json":
        this.feed = new JsonDocumentReader(
          format.document,
          format.documentMayBeArray === true,
          max,
          (field, value) => {
            if (field.read(value, this.tally) === "malformed") bad();
          },
          bad,
        );
        break;
    }
    this.decoder = new BodyDecoder(o.contentEncoding, (text) => this.feed.push(text), bad);
  }

  push(chunk: Uint8Array): void {
    if (this.ended !== undefined) return;
    try {
      this.decoder.push(chunk);
    } catch {
      // Parsers are written not to throw; this keeps a bug in one from reaching Envoy's stream.
      this.malformed += 1;
    }
  }

  current(): UsageCount {
    return this.tally.count();
  }

  end(options: { cut?: boolean } = {}): Promise<UsageCount> {
    const before = this.malformed;
    this.ended ??= this.decoder
      .end()
      .then(() => this.feed.end())
      .catch(() => {
        this.malformed += 1;
      })
      .then(() => {
        if (options.cut === true) this.malformed = before;
        return this.tally.count();
      });
    return this.ended;
  }
}

/** A usage reader for one response body. Throws TollgateError only for an unknown provider or a bad bound. */
export function createUsageReader(o: UsageReaderOptions): UsageReader {
  return new Reader(o);
}
