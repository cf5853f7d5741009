/**
 * Go's filepath.Match on a "/"-separated system, which OPA uses for `exclude_files`: "*" and
 * "?" never cross "/", "[...]" classes (with "^" negation and ranges) may, "\" escapes.
 * A malformed pattern matches nothing (OPA ignores the ErrBadPattern).
 */

function literal(ch: string): string {
  return /[\^$\\.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

function codePoint(ch: string): string {
  return `\\u{${(ch.codePointAt(0) as number).toString(16)}}`;
}

/** One class member as Go's getEsc reads it: "-" and "]" must be escaped, and something must follow. */
function classChar(chars: string[], i: number): { ch: string; next: number } | undefined {
  let ch = chars[i];
  if (ch === undefined || ch === "-" || ch === "]") return undefined;
  if (ch === "\\") {
    i++;
    ch = chars[i];
    if (ch === undefined) return undefined;
  }
  return i + 1 < chars.length ? { ch, next: i + 1 } : undefined;
}

function classRegExp(chars: string[], start: number): { source: string; next: number } | undefined {
  let i = start;
  const negated = chars[i] === "^";
  if (negated) i++;
  const ranges: string[] = [];
  for (let count = 0; ; count++) {
    if (chars[i] === "]" && count > 0) {
      i++;
      break;
    }
    const lo = classChar(chars, i);
    if (!lo) return undefined;
    let hi = lo;
    if (chars[lo.next] === "-") {
      const h = classChar(chars, lo.next + 1);
      if (!h) return undefined;
      hi = h;
    }
    i = hi.next;
    if ((lo.ch.codePointAt(0) as number) <= (hi.ch.codePointAt(0) as number)) ranges.push(`${codePoint(lo.ch)}-${codePoint(hi.ch)}`);
  }
  if (ranges.length === 0) return { source: negated ? "[^]" : "(?!)", next: i };
  return { source: `[${negated ? "^" : ""}${ranges.join("")}]`, next: i };
}

function globRegExp(pattern: string): RegExp | undefined {
  const chars = [...pattern];
  let source = "^";
  for (let i = 0; i < chars.length; ) {
    const ch = chars[i] as string;
    if (ch === "*") {
      source += "[^/]*";
      i++;
    } else if (ch === "?") {
      source += "[^/]";
      i++;
    } else if (ch === "\\") {
      if (i + 1 >= chars.length) return undefined;
      source += literal(chars[i + 1] as string);
      i += 2;
    } else if (ch === "[") {
      const cls = classRegExp(chars, i + 1);
      if (!cls) return undefined;
      source += cls.source;
      i = cls.next;
    } else {
      source += literal(ch);
      i++;
    }
  }
  return new RegExp(`${source}$`, "u");
}

export function globMatch(pattern: string, name: string): boolean {
  return globRegExp(pattern)?.test(name) ?? false;
}
