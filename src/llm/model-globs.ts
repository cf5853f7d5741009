import { RE2JS } from "re2js";
import { isPlainObject } from "../json.js";
import type { PolicyEngine } from "../policy/engine.js";

/**
 * The roles whose model globs match a request's model, for input.llm.model_roles.
 *
 * The LLM pack's `tollgate.access.model_allowed` would otherwise call
 * `glob.match(pattern, ["/"], llm.model)` for each glob of the caller's role, inside the Wasm: a
 * built-in call, a translation-cache lookup and an RE2 match per glob, and a compilation whenever
 * the Wasm's built-in cache is gone (it goes with every heap reset; BENCHMARKS.md, issue 16).
 * Here the globs of every role in data.gateway.roles are compiled once per policy revision
 * (cached on the revision's data object), and a request's model is matched against them in JS.
 *
 * The answer must be exactly glob.match's, in both of OPA's implementations: the Go one
 * (gobwas/glob, used by `opa eval` and opa-envoy-plugin) and the Wasm one (the glob translated to
 * an RE2 regular expression, used by tollgate's evaluation). They agree on the syntax accepted
 * below and differ outside it, so a revision with any glob outside it, or with roles or models
 * not shaped as the pack expects, gets no model_roles at all and the policy falls back to
 * glob.match. Accepted, with "/" as the only delimiter:
 *
 * - literal characters, and `\c` for a literal c (no trailing `\`); not `(`, `)` or `$`, which the
 *   Wasm translation leaves unescaped, and no control characters;
 * - `*` (any run of characters but "/"), `**` (any run of characters), `?` (one character but "/");
 * - `[abc]`, `[!abc]` (any character listed, or not listed, "/" included), with no `-` in a list
 *   (the Wasm translation would read it as a range);
 * - `[a-z]`, `[!a-z]`, one range per class, whose ends are ASCII letters or digits or characters
 *   above U+007F;
 * - `{a,b,…}` alternatives, nested, empty ones included, closed;
 * - at most MAX_PATTERN_LENGTH characters per glob and MAX_PATTERNS distinct globs per revision.
 *
 * Per request, a model that is not a string, holds a newline (the Wasm translation's `**` is RE2's
 * `.*`, which stops at one, gobwas' does not) or a lone surrogate gets no model_roles either.
 */

/** Longest glob translated; longer ones (and deeper nesting) could exceed RE2's limits in Wasm. */
export const MAX_PATTERN_LENGTH = 256;
/** Most distinct globs a revision may have; with more, matching every role per request is left to the policy. */
export const MAX_PATTERNS = 512;

type ModelTest = (model: string) => boolean;

interface CompiledRoles {
  /** One test per distinct glob. */
  tests: ModelTest[];
  /** Role names, sorted, each with the indices of its globs in tests. */
  roles: { name: string; globs: number[] }[];
  /** Scratch space for one call of modelRoles: what each test answered for the model. */
  seen: Uint8Array;
}

const byData = new WeakMap<object, CompiledRoles | null>();

/**
 * Sorted names of the roles in the revision's data.gateway.roles with a `models` glob matching
 * model, as glob.match(glob, ["/"], model) would; undefined when tollgate cannot say with
 * certainty (see above), and the policy must match the globs itself.
 */
export function modelRoles(engine: PolicyEngine, model: unknown): string[] | undefined {
  if (typeof model !== "string" || model.includes("\n") || LONE_SURROGATE.test(model)) return undefined;
  const compiled = compiledRoles(engine.data);
  if (compiled === null) return undefined;
  const { tests, roles, seen } = compiled;
  seen.fill(UNSEEN); // each distinct glob is tried at most once per model, and only when needed
  const out: string[] = [];
  for (const role of roles) {
    for (const i of role.globs) {
      if (seen[i] === UNSEEN) seen[i] = tests[i]!(model) ? MATCH : NO_MATCH;
      if (seen[i] === MATCH) {
        out.push(role.name);
        break;
      }
    }
  }
  return out;
}

const UNSEEN = 0;
const MATCH = 1;
const NO_MATCH = 2;

/** The revision's roles with their globs compiled, or null when any glob or role is outside what is translated. */
export function compiledRoles(data: unknown): CompiledRoles | null {
  if (data === null || typeof data !== "object") return null;
  let compiled = byData.get(data);
  if (compiled === undefined) {
    compiled = compileRoles(data);
    byData.set(data, compiled);
  }
  return compiled;
}

function compileRoles(data: object): CompiledRoles | null {
  const gateway = (data as { gateway?: unknown }).gateway;
  if (!isPlainObject(gateway)) return null;
  const roles = gateway["roles"];
  if (!isPlainObject(roles)) return null;
  const index = new Map<string, number>();
  const tests: ModelTest[] = [];
  const out: CompiledRoles["roles"] = [];
  for (const name of Object.keys(roles).sort()) {
    const role = roles[name];
    // A role that is not an object has no `models` in Rego: it allows no model.
    if (!isPlainObject(role)) continue;
    const models = role["models"];
    if (models === undefined) continue;
    if (!Array.isArray(models)) return null;
    const globs: number[] = [];
    for (const glob of models) {
      if (typeof glob !== "string") return null;
      let i = index.get(glob);
      if (i === undefined) {
        const test = compileGlob(glob);
        if (test === undefined || tests.length >= MAX_PATTERNS) return null;
        i = tests.push(test) - 1;
        index.set(glob, i);
      }
      globs.push(i);
    }
    out.push({ name, globs });
  }
  return { tests, roles: out, seen: new Uint8Array(tests.length) };
}

const LONE_SURROGATE = /\p{Cs}/u;
// C0 controls and DEL: the Wasm side passes the translated expression to RE2 as a C string.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A glob compiled to a test of a whole model name, with glob.match's semantics and "/" as the
 * delimiter, or undefined when it is outside the syntax both OPA implementations read alike.
 */
export function compileGlob(glob: string): ModelTest | undefined {
  if (glob.length > MAX_PATTERN_LENGTH || LONE_SURROGATE.test(glob) || CONTROL.test(glob)) return undefined;
  let tree: Seq;
  try {
    tree = parse(glob);
  } catch (e) {
    if (e instanceof Untranslatable) return undefined;
    throw e;
  }
  return toTest(tree);
}

// ---- parsing: gobwas/glob's lexer and parser, for the syntax accepted -----------------------

type Node =
  | { k: "text"; s: string }
  | { k: "any" }
  | { k: "super" }
  | { k: "single" }
  | { k: "set"; chars: string[]; not: boolean }
  | { k: "range"; lo: number; hi: number; not: boolean }
  | { k: "alt"; alts: Seq[] };
type Seq = Node[];

class Untranslatable extends Error {}

const fail = (why: string): never => {
  throw new Untranslatable(why);
};

const EOF = -1;
const BREAK_TEXT = new Set(["?", "*", "[", "{"].map((c) => c.codePointAt(0)!));
const BREAK_TERMS = new Set(["?", "*", "[", "{", "}", ","].map((c) => c.codePointAt(0)!));
const BREAK_CLASS = new Set([0x5d]);
const cp = (c: string) => c.codePointAt(0)!;

/**
 * The glob's tree, read as gobwas/glob's lexer (syntax/lexer.go) and parser (parse.go) read it;
 * throws Untranslatable for a pattern they reject and for one outside the accepted syntax.
 */
function parse(glob: string): Seq {
  const runes = Array.from(glob, cp);
  let pos = 0;
  let termsLevel = 0;
  const read = () => (pos < runes.length ? runes[pos++]! : (pos++, EOF));
  const unread = () => void pos--;
  const peek = () => (pos < runes.length ? runes[pos]! : EOF);

  // fetchText: a run of literal characters up to a breaker, `\` escaping the next one.
  const text = (breakers: ReadonlySet<number>): string => {
    let out = "";
    let escaped = false;
    for (;;) {
      const r = read();
      if (r === EOF) {
        if (escaped) fail("trailing backslash"); // gobwas: an error; OPA's Wasm: ignored
        pos--;
        break;
      }
      if (!escaped) {
        if (r === 0x5c) {
          escaped = true;
          continue;
        }
        if (breakers.has(r)) {
          unread();
          break;
        }
      }
      escaped = false;
      out += String.fromCodePoint(r);
    }
    return out;
  };

  // fetchRange + parseRange: after `[`, up to and including `]`.
  const klass = (): Node => {
    let not = false;
    let r = read();
    if (r === cp("!")) {
      not = true;
      r = read();
    }
    if (r === EOF) fail("unclosed [");
    if (peek() === cp("-")) {
      pos++;
      const hi = read();
      if (hi === EOF) fail("unclosed [");
      if (read() !== 0x5d) fail("expected ]");
      if (hi < r) fail("range hi is less than lo");
      if (!safeRangeEnd(r) || !safeRangeEnd(hi)) fail("range end the Wasm translation leaves unescaped");
      return { k: "range", lo: r, hi, not };
    }
    unread();
    const chars = text(BREAK_CLASS);
    if (read() !== 0x5d) fail("unclosed [");
    if (chars === "") fail("empty class");
    if (chars.includes("-")) fail("- in a list: a range in the Wasm translation");
    return { k: "set", chars: Array.from(chars), not };
  };

  // The lexer's fetchItem, with the parser's grouping: a sequence up to EOF, or, inside `{…}`,
  // up to the `,` or `}` that ends the alternative.
  const sequence = (): Seq => {
    const seq: Seq = [];
    for (;;) {
      const r = read();
      if (r === EOF) {
        if (termsLevel > 0) fail("unclosed {"); // gobwas: an error; OPA's Wasm: closed at the end
        return seq;
      }
      if (termsLevel > 0 && (r === cp(",") || r === cp("}"))) {
        unread();
        return seq;
      }
      switch (r) {
        case cp("{"): {
          termsLevel++;
          const alts: Seq[] = [sequence()];
          while (read() === cp(",")) alts.push(sequence());
          termsLevel--;
          seq.push({ k: "alt", alts });
          break;
        }
        case cp("["):
          seq.push(klass());
          break;
        case cp("?"):
          seq.push({ k: "single" });
          break;
        case cp("*"):
          if (peek() === cp("*")) {
            pos++;
            seq.push({ k: "super" });
          } else seq.push({ k: "any" });
          break;
        default: {
          unread();
          const s = text(termsLevel > 0 ? BREAK_TERMS : BREAK_TEXT);
          if (/[()$]/.test(s)) fail("( ) or $: left unescaped by the Wasm translation");
          seq.push({ k: "text", s });
        }
      }
    }
  };

  return sequence();
}

/** A range end both implementations read as that character: an ASCII letter or digit, or above U+007F. */
function safeRangeEnd(r: number): boolean {
  return (r >= 0x30 && r <= 0x39) || (r >= 0x41 && r <= 0x5a) || (r >= 0x61 && r <= 0x7a) || r > 0x7f;
}

// ---- matching ---------------------------------------------------------------------------------

/** Adjacent literals merged, as gobwas' simplify does; alternatives kept as they are. */
function merge(seq: Seq): Seq {
  const out: Seq = [];
  for (const n of seq) {
    const prev = out[out.length - 1];
    if (n.k === "text" && prev?.k === "text") out[out.length - 1] = { k: "text", s: prev.s + n.s };
    else out.push(n);
  }
  return out;
}

/**
 * Plain string tests for the usual shapes ("gpt-4o-mini", "claude-3-5-haiku*", "llama3**"), a
 * linear-time RE2 (re2js) expression for the rest: no glob a revision holds can make matching slow.
 */
function toTest(tree: Seq): ModelTest {
  const seq = merge(tree);
  const [a, b] = seq;
  if (a === undefined) return (m) => m === "";
  if (seq.length === 1) {
    if (a.k === "text") {
      const s = a.s;
      return (m) => m === s;
    }
    if (a.k === "super") return () => true;
    if (a.k === "any") return (m) => !m.includes("/");
  }
  if (seq.length === 2 && a.k === "text" && b?.k === "super") {
    const s = a.s;
    return (m) => m.startsWith(s);
  }
  if (seq.length === 2 && a.k === "text" && b?.k === "any") {
    const s = a.s;
    return (m) => m.startsWith(s) && m.indexOf("/", s.length) < 0;
  }
  const re = RE2JS.compile(`\\A${regex(seq)}\\z`);
  return (m) => re.test(m);
}

const hex = (r: number) => `\\x{${r.toString(16)}}`;
const literal = (s: string) => Array.from(s, (c) => (/^[A-Za-z0-9]$/.test(c) ? c : hex(cp(c)))).join("");

function regex(seq: Seq): string {
  return seq
    .map((n) => {
      switch (n.k) {
        case "text":
          return literal(n.s);
        case "any":
          return "[^/]*";
        case "super":
          return "(?s:.*)";
        case "single":
          return "[^/]";
        case "set":
          return `[${n.not ? "^" : ""}${n.chars.map((c) => hex(cp(c))).join("")}]`;
        case "range":
          return `[${n.not ? "^" : ""}${hex(n.lo)}-${hex(n.hi)}]`;
        case "alt":
          return `(?:${n.alts.map(regex).join("|")})`;
      }
    })
    .join("");
}
