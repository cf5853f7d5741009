import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** One shell command as written in a markdown file. */
export interface DocCommand {
  file: string;
  line: number;
  /** The command text: continuations joined, trailing comment removed. */
  text: string;
  /** Shell words of the first pipeline stage, quotes removed (operators such as | < > are words too). */
  words: string[];
  /** From a fenced sh block, or from an inline code span in prose. */
  inline: boolean;
}

/** Programs an inline code span must start with to count as a command (prose also quotes flags and paths). */
const INLINE_PROGRAMS = /^(node bin\/tollgate\.mjs|tollgate|npm|npx|docker|curl|grpcurl|opa|openssl|cp) /;
/** Marks a placeholder word from prose, e.g. `keys hash <key>` gives the word "…key". */
export const PLACEHOLDER = "…";
const FENCE = /^(\s*)```(\w*)\s*$/;
const SHELL_LANGS = new Set(["sh", "bash", "shell", "console"]);

/** Shell words with quotes removed; `#` starts a comment outside quotes; operators are separate words. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "'" || ch === '"') {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) throw new Error(`unbalanced ${ch} in: ${text}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (ch === "#" && !inWord) {
      break;
    } else if (ch === "|" || ch === "<" || ch === ">" || ch === ";" || (ch === "&" && text[i + 1] === "&")) {
      if (inWord) words.push(word);
      const op = ch === "&" || (ch === "|" && text[i + 1] === "|") ? text.slice(i, i + 2) : ch;
      words.push(op);
      i += op.length - 1;
      word = "";
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The text without its trailing `# comment` (a `#` inside quotes is kept). */
function withoutComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "#" && (i === 0 || /\s/.test(text[i - 1]!))) return text.slice(0, i).trimEnd();
  }
  return text.trimEnd();
}

/** Splits `a && b` into its commands (the README's `npm ci && npm start`). */
function splitAnd(text: string): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "&" && text[i + 1] === "&") {
      parts.push(text.slice(start, i).trim());
      start = i + 2;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter(Boolean);
}

function command(file: string, line: number, text: string, inline: boolean): DocCommand {
  const words = shellWords(text);
  return { file, line, text, words, inline };
}

/** Commands in the fenced sh blocks of a markdown text: one per logical line, `\` continuations joined. */
function fencedCommands(file: string, markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = markdown.split("\n");
  let lang: string | undefined;
  let pending = "";
  let pendingLine = 0;
  lines.forEach((raw, i) => {
    const fence = FENCE.exec(raw);
    if (fence) {
      lang = lang === undefined ? fence[2]! : undefined;
      return;
    }
    if (lang === undefined || !SHELL_LANGS.has(lang)) return;
    const text = raw.trim();
    if (pending === "" && (text === "" || text.startsWith("#"))) return;
    if (pending === "") pendingLine = i + 1;
    // A continuation ends with `\`, or with an unclosed quote (the envoy stats example).
    const joined = pending === "" ? text : `${pending} ${text}`;
    if (text.endsWith("\\")) {
      pending = joined.slice(0, -1).trimEnd();
      return;
    }
    if ((withoutComment(joined).split("'").length - 1) % 2 === 1) {
      pending = joined;
      return;
    }
    pending = "";
    const body = withoutComment(joined);
    for (const part of splitAnd(body)) out.push(command(file, pendingLine, part, false));
  });
  return out;
}

/** Commands in inline code spans of prose (outside fences), such as `node bin/tollgate.mjs keys new`. */
function inlineCommands(file: string, markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  let inFence = false;
  const prose = markdown.split("\n").map((l) => {
    if (FENCE.test(l)) inFence = !inFence;
    return inFence || FENCE.test(l) ? "" : l;
  });
  const text = prose.join("\n");
  for (const m of text.matchAll(/`([^`]+)`/g)) {
    const span = m[1]!.replace(/\s*\n\s*/g, " ");
    if (!INLINE_PROGRAMS.test(span)) continue;
    const line = text.slice(0, m.index).split("\n").length;
    // Prose writes placeholders as <key> and choices as html|json|csv: a placeholder word, one command per choice.
    const spelled = span.replace(/<([a-z][a-z ]*)>/g, (_m, name: string) => `${PLACEHOLDER}${name.replace(/ /g, "_")}`);
    const choice = /(?<=\s)([a-z]+(?:\|[a-z]+)+)(?=\s|$)/.exec(spelled);
    const variants = choice ? choice[1]!.split("|").map((c) => spelled.replace(choice[1]!, c)) : [spelled];
    for (const v of variants) out.push(command(file, line, v, true));
  }
  return out;
}

/** README.md and every docs/*.md, in that order. */
export function docFiles(root: string): string[] {
  const docs = readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).sort();
  return ["README.md", ...docs.map((f) => `docs/${f}`)];
}

export function docCommands(root: string, files = docFiles(root)): DocCommand[] {
  return files.flatMap((file) => {
    const markdown = readFileSync(path.join(root, file), "utf8");
    return [...fencedCommands(file, markdown), ...inlineCommands(file, markdown)];
  });
}

/** The example in a YAML file's leading comment (docker-compose.yml's), read as one sh block. */
export function headerCommentCommands(root: string, file: string): DocCommand[] {
  const header: string[] = [];
  for (const line of readFileSync(path.join(root, file), "utf8").split("\n")) {
    if (!line.startsWith("#")) break;
    header.push(line.replace(/^# ?/, ""));
  }
  const block = header.map((l) => (/^\s+(docker|curl|-)/.test(l) ? l : ""));
  return fencedCommands(file, ["```sh", ...block, "```"].join("\n"));
}

/** The long flags a command passes (`--flag` or `--flag=value`). */
export function longFlags(words: readonly string[]): string[] {
  return words.filter((w) => /^--[a-z]/.test(w)).map((w) => w.split("=")[0]!);
}
