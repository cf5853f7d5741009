import JSONParser from "@streamparser/json/jsonparser.js";
import type { JsonKey } from "@streamparser/json/utils/types/jsonTypes.js";
import type { DocumentField } from "./formats/types.js";

/** Deeper nesting than any provider response uses is treated as hostile. */
const MAX_DEPTH = 64;

function matches(pattern: readonly string[], path: readonly JsonKey[]): boolean {
  if (pattern.length !== path.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== "*" && pattern[i] !== String(path[i])) return false;
  }
  return true;
}

/**
 * A plain JSON response read as it streams in, any size, in bounded memory: only the values at the
 * format's paths are built (@streamparser/json with keepStack off drops everything else as soon as
 * it is parsed). A cheap lexer in front of it refuses a single string or number longer than
 * `maxChars` and nesting deeper than MAX_DEPTH, which the parser would otherwise buffer whole.
 */
export class JsonDocumentReader {
  private readonly parser: JSONParser;
  private readonly patterns: readonly (readonly string[])[];
  private failed = false;
  private started = false;
  private inString = false;
  private escaped = false;
  private run = 0;
  private depth = 0;

  constructor(
    private readonly fields: readonly DocumentField[],
    private readonly allowArray: boolean,
    private readonly maxChars: number,
    private readonly onValue: (field: DocumentField, value: unknown) => void,
    private readonly onMalformed: () => void,
  ) {
    this.patterns = fields.map((f) => f.path.split(".").slice(1));
    this.parser = new JSONParser({ paths: fields.map((f) => f.path), keepStack: false });
    this.parser.onValue = ({ value, key, stack }) => {
      const path: JsonKey[] = stack.slice(1).map((s) => s.key as JsonKey);
      if (key !== undefined) path.push(key);
      const index = this.patterns.findIndex((p) => matches(p, path));
      const field = this.fields[index];
      if (field !== undefined) this.onValue(field, value);
    };
    this.parser.onError = () => this.fail();
    // The parser ends itself after the root value; nothing else to do then.
    this.parser.onEnd = () => undefined;
  }

  push(text: string): void {
    if (this.failed || text.length === 0) return;
    if (!this.guard(text)) {
      this.fail();
      return;
    }
    if (this.parser.isEnded) {
      // Trailing bytes after the root value: only whitespace is JSON.
      if (text.trim().length > 0) this.fail();
      return;
    }
    this.parser.write(text);
  }

  end(): void {
    if (this.failed) return;
    // An empty (or all-whitespace) body says nothing; that is not malformed.
    if (!this.started) return;
    if (!this.parser.isEnded) this.parser.end();
  }

  private fail(): void {
    if (this.failed) return;
    this.failed = true;
    this.onMalformed();
  }

  /** Tracks strings, token length and depth across chunks; false when a bound is crossed or the root is not an object. */
  private guard(text: string): boolean {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (!this.started) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xfeff) continue;
        if (c !== 0x7b && !(this.allowArray && c === 0x5b)) return false;
        this.started = true;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          this.run = 0;
          continue;
        }
        if (++this.run > this.maxChars) return false;
        continue;
      }
      switch (c) {
        case 0x22:
          this.inString = true;
          this.run = 0;
          break;
        case 0x7b:
        case 0x5b:
          if (++this.depth > MAX_DEPTH) return false;
          this.run = 0;
          break;
        case 0x7d:
        case 0x5d:
          this.depth -= 1;
          this.run = 0;
          break;
        case 0x2c:
        case 0x3a:
        case 0x20:
        case 0x0a:
        case 0x0d:
        case 0x09:
          this.run = 0;
          break;
        default:
          if (++this.run > this.maxChars) return false;
      }
    }
    return true;
  }
}
