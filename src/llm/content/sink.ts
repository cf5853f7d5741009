/** Text kept for scanning and estimating, in UTF-16 units; the rest is only measured. */
export const MAX_SCANNED_CHARS = 1 << 20;
/** Entries of any one array (messages, parts, prompts) that are looked into. */
export const MAX_ARRAY_ITEMS = 4096;
/** JSON nesting followed when serialising tool definitions and arguments. */
const MAX_JSON_DEPTH = 32;
const MAX_ISSUES = 5;

/**
 * Collects what a content reader finds in a body. Work is bounded: strings past the character
 * budget are measured (length only), arrays are looked into up to MAX_ARRAY_ITEMS entries.
 */
export class PromptSink {
  /** Prompt text (system, messages, tool results), what a prompt guard should scan. */
  readonly texts: string[] = [];
  /** Other text the model reads: tool schemas, tool-call arguments. Estimated, not scanned. */
  readonly structural: string[] = [];
  readonly issues: string[] = [];
  scannedChars = 0;
  skippedChars = 0;
  /** Prompt entries given as token ids (OpenAI integer arrays). */
  tokenIds = 0;
  messageCount = 0;
  /** Message-like units that carry chat framing (messages plus a system prompt). */
  framedUnits = 0;
  hasTools = false;
  hasImages = false;

  text(value: string): void {
    this.keep(value, this.texts);
  }

  structuralText(value: string): void {
    this.keep(value, this.structural);
  }

  /** Serialises a JSON value (tool schema, arguments) into the structural text, within budget. */
  json(value: unknown): void {
    const room = MAX_SCANNED_CHARS - this.scannedChars;
    if (room <= 0) return;
    const out: string[] = [];
    writeJson(value, out, 0, room);
    this.structuralText(out.join(""));
  }

  issue(message: string): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push(message);
  }

  image(): void {
    this.hasImages = true;
  }

  tools(): void {
    this.hasTools = true;
  }

  private keep(value: string, into: string[]): void {
    if (value.length === 0) return;
    const room = MAX_SCANNED_CHARS - this.scannedChars;
    if (room <= 0) {
      this.skippedChars += value.length;
      return;
    }
    const kept = value.length > room ? value.slice(0, room) : value;
    into.push(kept);
    this.scannedChars += kept.length;
    this.skippedChars += value.length - kept.length;
  }
}

/** Calls `visit` on at most MAX_ARRAY_ITEMS entries. */
export function eachCapped(items: readonly unknown[], visit: (item: unknown, index: number) => void): void {
  const n = Math.min(items.length, MAX_ARRAY_ITEMS);
  for (let i = 0; i < n; i++) visit(items[i], i);
}

/**
 * Appends JSON text to `out`, giving up on further entries once about `room` characters are
 * written (so the result may be cut short); returns the characters written.
 */
function writeJson(value: unknown, out: string[], depth: number, room: number): number {
  if (value === null || typeof value === "number" || typeof value === "boolean") {
    const s = typeof value === "number" && !Number.isFinite(value) ? "null" : String(value);
    out.push(s);
    return s.length;
  }
  if (typeof value === "string") {
    const s = JSON.stringify(value);
    out.push(s);
    return s.length;
  }
  if (typeof value !== "object" || depth >= MAX_JSON_DEPTH) {
    out.push("null");
    return 4;
  }
  const isArray = Array.isArray(value);
  const entries: [string | undefined, unknown][] = isArray
    ? value.slice(0, MAX_ARRAY_ITEMS).map((item): [undefined, unknown] => [undefined, item])
    : Object.entries(value).slice(0, MAX_ARRAY_ITEMS);
  out.push(isArray ? "[" : "{");
  let used = 2;
  for (const [i, [key, item]] of entries.entries()) {
    if (used >= room) break;
    if (i > 0) {
      out.push(",");
      used += 1;
    }
    if (key !== undefined) {
      const k = JSON.stringify(key);
      out.push(k, ":");
      used += k.length + 1;
    }
    used += writeJson(item, out, depth + 1, room - used);
  }
  out.push(isArray ? "]" : "}");
  return used;
}
