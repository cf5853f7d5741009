import { RE2JS } from "re2js";
import { isPlainObject } from "../json.js";
import { erase } from "./json-pointer.js";
import { applyMaskRules, parseMaskRules } from "./mask-rules.js";

/**
 * The masking step. Every copy of request data that leaves the process goes through here: log
 * lines (the logger's formatter), console decision lines and uploaded decision-log events
 * (maskDecisionCopy), admin API answers, the compliance report and the audit trail.
 *
 * Four rules compose, in this order:
 * 1. the policy's data.system.log.mask (OPA's JSON-pointer erase/upsert), on decision copies;
 * 2. body text (raw body, parsed body, input.llm.texts) removed from decision copies unless the
 *    operator asked for it (--log-decision-body), in which case it is kept and masked like the rest;
 * 3. credentials by field name (authorization, cookies, API-key headers, key query parameters,
 *    password fields…), and every other occurrence of those values in the same copy;
 * 4. secret text by pattern: tollgate's own patterns (cloud keys, private keys, provider tokens,
 *    bearer credentials), the revision's prompt-guard patterns (data.gateway.guard) on decision
 *    copies, and secret values tollgate itself loaded. A match is replaced by its pattern name,
 *    `[REDACTED:aws_access_key]`, never kept.
 */

/** Header and field names whose values are credentials. Compared lower-case. */
const SENSITIVE_KEYS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "x-goog-api-key",
  "x-amz-security-token",
  "aws_secret_access_key",
  "password",
  "passwd",
  "secret",
  "client_secret",
  "access_token",
  "refresh_token",
  "id_token",
  "token",
  "private_key",
  // Query parameters that carry keys (Gemini's ?key=, signed URLs), as they appear in parsed_query.
  "key",
  "api_key",
  "apikey",
  "sig",
  "signature",
]);

const QUERY_KEYS = "key|api[-_]?key|apikey|access_token|token|sig|signature|password|secret|client_secret";
/** `key=value` in a query string or form body, at its start or after ?, & or ;. */
const SENSITIVE_QUERY = new RegExp(`((?:^|[?&;])(?:${QUERY_KEYS})=)[^&#;\\s"]*`, "gi");
/** `"api_key": "value"` in JSON text (a raw body, possibly cut short, that was not parsed). */
const SENSITIVE_JSON = /("(?:authorization|cookie|x-api-key|api[-_]?key|apikey|password|passwd|secret|client_secret|access_token|refresh_token|id_token|token|private_key|aws_secret_access_key)"\s*:\s*")((?:[^"\\]|\\.)*)/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/g;

export const MASK = "[REDACTED]";
const MAX_DEPTH = 12;
/** Values of credential fields shorter than this are masked at their field only, not searched for elsewhere. */
const MIN_TAINT = 6;

export interface SecretPatternMatcher {
  name: string;
  /** Global JS RegExp (tollgate's own, written to run in linear time) or RE2 (the policy's). */
  replace(text: string, by: string): string;
}

function jsPattern(name: string, re: RegExp): SecretPatternMatcher {
  return { name, replace: (text, by) => text.replace(re, by) };
}

/**
 * tollgate's own secret patterns, applied to every string of every copy. They mirror the LLM
 * pack's guard names, and the private-key one takes the whole PEM block (to its END line, or to
 * the end of a text cut short), not only the BEGIN line a guard needs to see.
 */
export const BUILTIN_PATTERNS: readonly SecretPatternMatcher[] = [
  jsPattern("private_key", /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g),
  jsPattern("aws_access_key", /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g),
  jsPattern("gcp_api_key", /\bAIza[0-9A-Za-z_-]{35}\b/g),
  jsPattern("anthropic_api_key", /\bsk-ant-[A-Za-z0-9_-]{20,}/g),
  jsPattern("openai_api_key", /\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}/g),
  jsPattern("github_token", /\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/g),
  jsPattern("slack_token", /\bxox[baprs]-[A-Za-z0-9-]{10,}/g),
  jsPattern("jwt", /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g),
];

/** Known secret values (provider keys and tokens loaded by tollgate), replaced wherever they appear. */
const knownSecrets = new Set<string>();

export function registerSecret(value: string): void {
  if (value.length >= 4) knownSecrets.add(value);
}

export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase();
  return SENSITIVE_KEYS.has(k) || k.endsWith("-api-key") || k.endsWith("_api_key") || k.endsWith("-token") || k.endsWith("_token") || k.endsWith("_secret");
}

/** Values to find and mask wherever they appear in one copy (credential field values of that copy). */
type Taints = ReadonlySet<string>;

function replaceAll(text: string, needle: string, by: string): string {
  return text.includes(needle) ? text.split(needle).join(by) : text;
}

/** Masks one string: credentials in it, tollgate's patterns, the given patterns and values, known secrets. */
export function maskString(value: string, patterns: readonly SecretPatternMatcher[] = [], taints: Taints = new Set()): string {
  const json = maskJsonText(value, patterns, taints);
  if (json !== undefined) return json;
  const out = maskText(value, patterns, taints);
  if (!/%[0-9A-Fa-f]{2}/.test(out)) return out;
  // A secret percent-encoded in a path or query string: look at the decoded text too, and log
  // that (decoded and masked) when it hid something the encoded form did not show.
  let decoded: string;
  try {
    decoded = decodeURIComponent(out.replace(/\+/g, " "));
  } catch {
    return out;
  }
  const masked = maskText(decoded, patterns, taints);
  return masked === decoded ? out : masked;
}

let jsonNesting = 0;

/**
 * A string that holds a JSON document (a raw request body, a serialized request in a message) is
 * masked field by field, as the document it is; undefined when it is not JSON or nothing changed.
 */
function maskJsonText(value: string, patterns: readonly SecretPatternMatcher[], taints: Taints): string | undefined {
  const first = value.trimStart()[0];
  if ((first !== "{" && first !== "[") || jsonNesting >= 4) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  jsonNesting++;
  try {
    const masked = JSON.stringify(maskValue(parsed, patterns, taints));
    return masked === JSON.stringify(parsed) ? undefined : maskText(masked, patterns, taints);
  } finally {
    jsonNesting--;
  }
}

function maskText(value: string, patterns: readonly SecretPatternMatcher[], taints: Taints): string {
  // Patterns before the copy's own credential values: a value replaced piecemeal could no longer
  // match (a PEM block needs its END line).
  let out = value;
  for (const secret of knownSecrets) out = replaceAll(out, secret, MASK);
  for (const p of BUILTIN_PATTERNS) out = p.replace(out, `[REDACTED:${p.name}]`);
  for (const p of patterns) out = p.replace(out, `[REDACTED:${p.name}]`);
  for (const t of taints) out = replaceAll(out, t, MASK);
  return out.replace(BEARER, `$1 ${MASK}`).replace(SENSITIVE_QUERY, `$1${MASK}`).replace(SENSITIVE_JSON, `$1${MASK}`);
}

/** An Envoy header entry as protojson writes it: {key, value} or {key, rawValue}; also HeaderValueOption's header. */
function isHeaderEntry(o: Record<string, unknown>): o is { key: string; value?: unknown; rawValue?: unknown } {
  return typeof o["key"] === "string" && ("value" in o || "rawValue" in o);
}

/** The credential-field values in value: the strings to look for everywhere else in the same copy. */
function collectTaints(value: unknown, into: Set<string>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth >= MAX_DEPTH) return;
  const add = (v: unknown) => {
    if (typeof v === "string") {
      if (v.length >= MIN_TAINT) into.add(v);
      // "Bearer abc…": the credential alone may appear elsewhere (a pasted token, a query parameter).
      const parts = v.trim().split(/\s+/);
      if (parts.length === 2 && parts[1]!.length >= MIN_TAINT) into.add(parts[1]!);
    } else if (Array.isArray(v)) v.forEach(add);
  };
  if (Array.isArray(value)) {
    for (const v of value) collectTaints(v, into, depth + 1);
    return;
  }
  const o = value as Record<string, unknown>;
  if (isHeaderEntry(o) && isSensitiveKey(o.key)) {
    add(o.value);
    if (typeof o.rawValue === "string") add(decodeText(o.rawValue));
  }
  const entry = isHeaderEntry(o);
  for (const [k, v] of Object.entries(o)) {
    if (isSensitiveKey(k) && !(entry && k === "key")) add(v);
    else collectTaints(v, into, depth + 1);
  }
}

/** base64 → UTF-8 text, or undefined when the bytes are not valid UTF-8 (binary). */
function decodeText(base64: string): string | undefined {
  const bytes = Buffer.from(base64, "base64");
  const text = bytes.toString("utf8");
  return Buffer.from(text, "utf8").equals(bytes) ? text : undefined;
}

function maskDeep(value: unknown, patterns: readonly SecretPatternMatcher[], taints: Taints, depth: number): unknown {
  if (typeof value === "string") return maskString(value, patterns, taints);
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[Truncated]";
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, patterns, taints, depth + 1));
  if (value instanceof Error) return { type: value.name, message: maskString(value.message, patterns, taints) };
  const o = value as Record<string, unknown>;
  const entry = isHeaderEntry(o);
  const sensitiveEntry = entry && isSensitiveKey(o.key);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (entry && k === "key") out[k] = typeof v === "string" ? maskString(v, patterns, taints) : v; // a header's name
    else if ((isSensitiveKey(k) && !(entry && k === "key")) || (sensitiveEntry && (k === "value" || k === "rawValue"))) {
      out[k] = k === "rawValue" ? Buffer.from(MASK).toString("base64") : MASK;
    } else if (k === "rawValue" && typeof v === "string") {
      // Envoy sends header bytes base64'd when they are not valid UTF-8 text: mask the text inside.
      const text = decodeText(v);
      out[k] = text === undefined ? v : Buffer.from(maskString(text, patterns, taints)).toString("base64");
    } else out[k] = maskDeep(v, patterns, taints, depth + 1);
  }
  return out;
}

/** Returns a copy of value with credentials and secret text masked. Never mutates its argument. */
export function maskValue(value: unknown, patterns: readonly SecretPatternMatcher[] = [], extraTaints: Iterable<string> = []): unknown {
  const taints = new Set<string>(extraTaints);
  collectTaints(value, taints);
  return maskDeep(value, patterns, taints, 0);
}

// ---- the revision's prompt-guard patterns -------------------------------------------------------

export interface GuardPattern {
  name: string;
  pattern: RE2JS;
}

/** Where the LLM policy pack keeps its prompt-guard patterns: data.gateway.guard. */
interface GuardData {
  gateway?: { guard?: { patterns?: unknown; extra_patterns?: unknown } };
}

const guardByData = new WeakMap<object, GuardPattern[] | null>();
/**
 * The patterns the latest revision compiled, by source: an edit that leaves the guard alone
 * compiles none again (1.7-5 ms of the event loop per reload for the shipped eight, in the turn
 * before the swap). Only the latest revision's are kept, so the map stays as small as the guard.
 */
let compiledBefore = new Map<string, RE2JS>();

function compileGuard(data: unknown): GuardPattern[] | null {
  const guard = (data as GuardData | undefined)?.gateway?.guard;
  if (!guard) return null;
  const out: GuardPattern[] = [];
  const compiled = new Map<string, RE2JS>();
  for (const list of [guard.patterns ?? [], guard.extra_patterns ?? []]) {
    if (!Array.isArray(list)) return null;
    for (const p of list as { name?: unknown; pattern?: unknown }[]) {
      if (typeof p?.name !== "string" || typeof p.pattern !== "string") return null;
      try {
        const pattern = compiled.get(p.pattern) ?? compiledBefore.get(p.pattern) ?? RE2JS.compile(p.pattern);
        compiled.set(p.pattern, pattern);
        out.push({ name: p.name, pattern });
      } catch {
        return null;
      }
    }
  }
  compiledBefore = compiled;
  return out;
}

/**
 * The prompt-guard patterns of a revision's data (data.gateway.guard), compiled with RE2JS once
 * per revision: RE2's syntax, as the policy's regex.match, and linear-time matching on any text.
 * null when the data has no guard or a pattern does not compile.
 */
export function guardPatterns(data: unknown): GuardPattern[] | null {
  if (data === null || typeof data !== "object") return null;
  let compiled = guardByData.get(data);
  if (compiled === undefined) {
    compiled = compileGuard(data);
    guardByData.set(data, compiled);
  }
  return compiled;
}

function re2Matcher(p: GuardPattern): SecretPatternMatcher {
  return {
    name: p.name,
    replace(text, by) {
      const m = p.pattern.matcher(text);
      let out = "";
      let at = 0;
      while (m.find()) {
        if (m.end() === m.start()) continue; // an empty match hides nothing
        out += text.slice(at, m.start()) + by;
        at = m.end();
      }
      return at === 0 ? text : out + text.slice(at);
    },
  };
}

// ---- decision copies ----------------------------------------------------------------------------

/** Where body text lives in a decision copy ({input, result, …}). */
export const BODY_POINTERS = [
  "/input/attributes/request/http/body",
  "/input/attributes/request/http/rawBody",
  "/input/parsed_body",
  "/input/llm/texts",
] as const;

export interface DecisionCopyOptions {
  /** Keep body text (masked). Default: removed. */
  logBody: boolean;
  /** The policy's data.system.log.mask, evaluated on the copy (OPA's input: the event). */
  policyMask?: ((doc: Record<string, unknown>) => unknown) | undefined;
  /** The revision's data, for its prompt-guard patterns. */
  policyData?: unknown;
}

export type DecisionCopy =
  | { ok: true; doc: Record<string, unknown>; erased: string[]; masked: string[] }
  | { ok: false; reason: string };

function collectStrings(value: unknown, into: Set<string>, depth = 0): void {
  if (typeof value === "string") {
    if (value.length >= MIN_TAINT) into.add(value);
  } else if (value !== null && typeof value === "object" && depth < MAX_DEPTH) {
    for (const v of Object.values(value)) collectStrings(v, into, depth + 1);
  }
}

function at(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const t of pointer.slice(1).split("/")) {
    if (!isPlainObject(node)) return undefined;
    node = node[t];
  }
  return node;
}

/**
 * One decision as it leaves the process (console decision line or uploaded event): the policy's
 * mask rules, then tollgate's own. Fails closed: a mask the policy got wrong returns ok: false and
 * the caller must not emit the input. Never mutates doc.
 */
export function maskDecisionCopy(doc: Record<string, unknown>, opts: DecisionCopyOptions): DecisionCopy {
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  const erased: string[] = [];
  const masked: string[] = [];
  // What the policy's rules hide is hidden everywhere in the copy (e.g. a field masked in parsed_body
  // is also masked in the raw body text), like a credential field's value.
  const policyTaints = new Set<string>();
  if (opts.policyMask) {
    let rules;
    try {
      rules = parseMaskRules(opts.policyMask(copy));
    } catch (err) {
      rules = `evaluation failed: ${(err as Error).message}`;
    }
    if (typeof rules !== "string") for (const rule of rules) collectStrings(at(copy, rule.path), policyTaints);
    const outcome = typeof rules === "string" ? { ok: false as const, reason: rules } : applyMaskRules(copy, rules);
    if (!outcome.ok) return outcome;
    erased.push(...outcome.erased);
    masked.push(...outcome.masked);
  }
  for (const pointer of BODY_POINTERS) {
    const value = at(copy, pointer);
    if (value === undefined) continue;
    const binary = pointer.endsWith("/rawBody") && (typeof value !== "string" || decodeText(value) === undefined);
    if (!opts.logBody || binary) {
      erase(copy, pointer);
      erased.push(pointer);
    }
  }
  const patterns = patternsOf(opts.policyData);
  const http = at(copy, "/input/attributes/request/http");
  if (isPlainObject(http) && typeof http["rawBody"] === "string") {
    // Kept on request: the bytes are text, so mask the text (credential values found anywhere count).
    const taints = new Set<string>(policyTaints);
    collectTaints(copy, taints);
    http["rawBody"] = Buffer.from(maskString(decodeText(http["rawBody"]) ?? "", patterns, taints)).toString("base64");
  }
  return { ok: true, doc: maskValue(copy, patterns, policyTaints) as Record<string, unknown>, erased, masked };
}

const matchersByData = new WeakMap<object, SecretPatternMatcher[]>();

function patternsOf(data: unknown): SecretPatternMatcher[] {
  if (data === null || typeof data !== "object") return [];
  let matchers = matchersByData.get(data);
  if (!matchers) {
    matchers = (guardPatterns(data) ?? []).map(re2Matcher);
    matchersByData.set(data, matchers);
  }
  return matchers;
}
