import { TollgateError } from "../errors.js";

/**
 * OPA hashes data.json and .manifest over a canonical form of the parsed JSON (bundle/hash.go):
 * object keys sorted bytewise, no whitespace, strings re-encoded by Go's encoding/json without
 * HTML escaping, and numbers kept as their literal text (the decoder uses json.Number). Decoded
 * strings follow Go too: each invalid UTF-8 byte and each lone surrogate escape becomes U+FFFD.
 *
 * Strings are carried as "binary" (latin1) JS strings holding their UTF-8 bytes, so the default
 * string ordering is Go's bytewise ordering.
 */

type Node =
  | { kind: "object"; members: Map<string, Node> }
  | { kind: "array"; items: Node[] }
  | { kind: "string"; bytes: string }
  | { kind: "literal"; text: string };

const MAX_DEPTH = 10_000; // Go's encoding/json nesting limit
const REPLACEMENT = "\xef\xbf\xbd"; // U+FFFD as UTF-8 bytes, latin1-encoded

function syntaxError(offset: number, what: string): TollgateError {
  return new TollgateError("policy_build_error", `invalid JSON at byte ${offset}: ${what}`);
}

function utf8Of(codePoint: number): string {
  return Buffer.from(String.fromCodePoint(codePoint), "utf8").toString("latin1");
}

/** Length of the valid UTF-8 sequence at i, or 0 when the byte there starts none (Go's utf8.DecodeRune size 1 error). */
function utf8SequenceLength(buf: Buffer, i: number): number {
  const b0 = buf[i] as number;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < buf.length && (buf[i + k] as number) >= lo && (buf[i + k] as number) <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 >= 0xe1 && b0 <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

interface Container {
  node: Node;
  /** The key whose value is being parsed (objects only). */
  key: string;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

class Parser {
  private pos = 0;
  private readonly text: string;

  constructor(private readonly buf: Buffer) {
    this.text = buf.toString("latin1");
  }

  /** Iterative, so nesting as deep as Go allows cannot overflow the JS stack. */
  parseDocument(): Node {
    const stack: Container[] = [];
    let value = this.open(stack);
    for (;;) {
      while (value !== undefined) {
        const top = stack.at(-1);
        if (top === undefined) {
          this.skipSpace();
          if (this.pos !== this.buf.length) throw syntaxError(this.pos, "unexpected data after the top-level value");
          return value;
        }
        if (top.node.kind === "object") {
          top.node.members.delete(top.key); // a repeated key keeps the last value, as a Go map does
          top.node.members.set(top.key, value);
        } else if (top.node.kind === "array") top.node.items.push(value);
        this.skipSpace();
        const c = this.text[this.pos++];
        const closer = top.node.kind === "object" ? "}" : "]";
        if (c === closer) {
          stack.pop();
          value = top.node; // the finished container is the value to store one level up
          continue;
        }
        if (c !== ",") throw syntaxError(this.pos - 1, `expected ',' or '${closer}'`);
        if (top.node.kind === "object") top.key = this.key();
        value = undefined;
      }
      value = this.open(stack);
    }
  }

  /** Starts a value: returns a scalar or an empty container, or pushes containers and returns undefined. */
  private open(stack: Container[]): Node | undefined {
    for (;;) {
      this.skipSpace();
      const c = this.text[this.pos];
      if (c !== "{" && c !== "[") return this.scalar(c);
      if (stack.length >= MAX_DEPTH) throw syntaxError(this.pos, "exceeded max depth");
      this.pos++;
      this.skipSpace();
      const node: Node = c === "{" ? { kind: "object", members: new Map() } : { kind: "array", items: [] };
      if (this.text[this.pos] === (c === "{" ? "}" : "]")) {
        this.pos++;
        return node;
      }
      stack.push({ node, key: c === "{" ? this.key() : "" });
    }
  }

  private scalar(c: string | undefined): Node {
    if (c === '"') return { kind: "string", bytes: this.string() };
    for (const word of ["true", "false", "null"]) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return { kind: "literal", text: word };
      }
    }
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m && m[0].length > 0) {
      this.pos += m[0].length;
      return { kind: "literal", text: m[0] };
    }
    throw syntaxError(this.pos, c === undefined ? "unexpected end of input" : "invalid character");
  }

  private skipSpace(): void {
    while (this.pos < this.buf.length) {
      const c = this.buf[this.pos];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  private key(): string {
    this.skipSpace();
    if (this.text[this.pos] !== '"') throw syntaxError(this.pos, "expected an object key");
    const key = this.string();
    this.skipSpace();
    if (this.text[this.pos] !== ":") throw syntaxError(this.pos, "expected ':'");
    this.pos++;
    return key;
  }

  private hex4(at: number): number | undefined {
    const h = this.text.slice(at, at + 4);
    return /^[0-9a-fA-F]{4}$/.test(h) ? parseInt(h, 16) : undefined;
  }

  /** Returns the decoded string as latin1-encoded UTF-8 bytes. */
  private string(): string {
    this.pos++;
    let out = "";
    for (;;) {
      if (this.pos >= this.buf.length) throw syntaxError(this.pos, "unterminated string");
      const b = this.buf[this.pos] as number;
      if (b === 0x22) {
        this.pos++;
        return out;
      }
      if (b < 0x20) throw syntaxError(this.pos, "control character in string");
      if (b === 0x5c) {
        const e = this.text[this.pos + 1] ?? "";
        if (e in ESCAPES) {
          out += ESCAPES[e];
          this.pos += 2;
          continue;
        }
        if (e !== "u") throw syntaxError(this.pos, "invalid escape");
        const unit = this.hex4(this.pos + 2);
        if (unit === undefined) throw syntaxError(this.pos, "invalid \\u escape");
        this.pos += 6;
        if (unit >= 0xd800 && unit < 0xe000) {
          const low = this.text.startsWith("\\u", this.pos) ? this.hex4(this.pos + 2) : undefined;
          if (unit < 0xdc00 && low !== undefined && low >= 0xdc00 && low < 0xe000) {
            out += utf8Of(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00));
            this.pos += 6;
          } else out += REPLACEMENT;
          continue;
        }
        out += utf8Of(unit);
        continue;
      }
      if (b < 0x80) {
        out += this.text[this.pos++];
        continue;
      }
      const size = utf8SequenceLength(this.buf, this.pos);
      if (size === 0) {
        out += REPLACEMENT;
        this.pos++;
      } else {
        out += this.text.slice(this.pos, this.pos + size);
        this.pos += size;
      }
    }
  }
}

/** Go's appendString with escapeHTML off, over latin1-encoded UTF-8 bytes that are already valid. */
function encodeString(bytes: string): string {
  let out = '"';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += `\\${bytes[i]}`;
    else if (c < 0x20) {
      const short: Readonly<Record<number, string>> = { 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t" };
      out += short[c] ?? `\\u00${c.toString(16).padStart(2, "0")}`;
    } else if (c === 0xe2 && bytes.charCodeAt(i + 1) === 0x80 && (bytes.charCodeAt(i + 2) === 0xa8 || bytes.charCodeAt(i + 2) === 0xa9)) {
      out += bytes.charCodeAt(i + 2) === 0xa8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else out += bytes[i];
  }
  return `${out}"`;
}

function serialize(root: Node): string {
  const out: string[] = [];
  const work: (Node | string)[] = [root];
  while (work.length > 0) {
    const item = work.pop() as Node | string;
    if (typeof item === "string") {
      out.push(item);
      continue;
    }
    switch (item.kind) {
      case "literal":
        out.push(item.text);
        break;
      case "string":
        out.push(encodeString(item.bytes));
        break;
      case "array": {
        out.push("[");
        work.push("]");
        for (let i = item.items.length - 1; i >= 0; i--) {
          work.push(item.items[i] as Node);
          if (i > 0) work.push(",");
        }
        break;
      }
      case "object": {
        out.push("{");
        work.push("}");
        const keys = [...item.members.keys()].sort();
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i] as string;
          work.push(item.members.get(key) as Node, `${encodeString(key)}:`);
          if (i > 0) work.push(",");
        }
      }
    }
  }
  return out.join("");
}

/** The exact bytes OPA feeds to the hash for a structured bundle file (a UTF-8 BOM is skipped, as util.Unmarshal does). */
export function goCanonicalJson(content: Buffer): Buffer {
  const body = content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf ? content.subarray(3) : content;
  return Buffer.from(serialize(new Parser(body).parseDocument()), "latin1");
}
