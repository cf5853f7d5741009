import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from "yaml";
import { TollgateError } from "../../errors.js";

/** A YAML value reduced to what the config needs, with its line for error messages. */
export type YNode =
  | { kind: "map"; line: number; entries: { key: string; value: YNode; line: number }[] }
  | { kind: "seq"; line: number; items: YNode[] }
  | { kind: "scalar"; line: number; value: string | number | boolean | null; source: string; quoted: boolean };

/** Caps alias expansion ("billion laughs") well above anything a real config needs. */
const MAX_NODES = 200_000;

export function configError(file: string, message: string): TollgateError {
  return new TollgateError("config_error", `${file}: ${message}`);
}

/**
 * Parses one config file as YAML 1.1 (yaml.v2, which ratelimit uses, is 1.1: yes/no are booleans).
 * An empty file gives undefined.
 */
export function parseYamlTree(file: string, text: string): YNode | undefined {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { version: "1.1", lineCounter, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    throw configError(file, "error loading config file: not a YAML document stream");
  }
  for (const doc of docs) {
    const problem = doc.errors[0];
    if (problem) {
      const pos = lineCounter.linePos(problem.pos[0]);
      throw configError(file, `error loading config file: ${firstLine(problem.message)} (line ${pos.line})`);
    }
  }
  const nonEmpty = docs.filter((d) => d.contents !== null);
  if (nonEmpty.length > 1) {
    throw configError(file, "error loading config file: a config file must hold one YAML document, found several");
  }
  const doc = nonEmpty[0];
  if (!doc || doc.contents === null) return undefined;
  const budget = { left: MAX_NODES };
  return convert({ file, doc, node: doc.contents, lineCounter, budget, depth: 0, aliases: new Map() });
}

function firstLine(message: string): string {
  return message.split("\n")[0]?.trim() ?? message;
}

interface ConvertArgs {
  file: string;
  doc: Document;
  node: unknown;
  lineCounter: LineCounter;
  budget: { left: number };
  depth: number;
  /** Alias.resolve searches the whole document, so each alias is resolved once. */
  aliases: Map<unknown, unknown>;
}

function lineOf(node: Node | null | undefined, lineCounter: LineCounter): number {
  const start = node?.range?.[0];
  return start === undefined ? 0 : lineCounter.linePos(start).line;
}

function convert(args: ConvertArgs): YNode {
  const { file, doc, lineCounter, budget, depth } = args;
  budget.left -= 1;
  if (budget.left < 0 || depth > 64) {
    throw configError(file, "error loading config file: document is too large or too deeply nested");
  }
  let node = args.node;
  if (isAlias(node)) {
    const alias = node;
    node = args.aliases.has(alias) ? args.aliases.get(alias) : alias.resolve(doc);
    if (node === undefined) throw configError(file, "error loading config file: unresolved alias");
    args.aliases.set(alias, node);
  }
  if (node === null || node === undefined) {
    return { kind: "scalar", line: 0, value: null, source: "", quoted: false };
  }
  if (isMap(node)) {
    const entries: { key: string; value: YNode; line: number }[] = [];
    for (const pair of node.items) {
      const keyNode = pair.key;
      const line = isScalar(keyNode) ? lineOf(keyNode, lineCounter) : lineOf(node, lineCounter);
      if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === "object") {
        throw configError(file, `config error, key is not of type string (line ${line})`);
      }
      // Keys are matched on their text, so `0.25:` is the key "0.25", later rejected as unknown.
      const key = keyNode.source ?? String(keyNode.value);
      entries.push({ key, line, value: convert({ ...args, node: pair.value, depth: depth + 1 }) });
    }
    return { kind: "map", line: lineOf(node, lineCounter), entries };
  }
  if (isSeq(node)) {
    const items = node.items.map((item) => convert({ ...args, node: item, depth: depth + 1 }));
    return { kind: "seq", line: lineOf(node, lineCounter), items };
  }
  if (isScalar(node)) {
    const raw = node.value;
    const value = typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean" || raw === null ? raw : null;
    const quoted = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE";
    const source = typeof node.source === "string" ? node.source : value === null ? "" : String(value);
    return { kind: "scalar", line: lineOf(node, lineCounter), value, source, quoted };
  }
  throw configError(file, `error loading config file: unsupported YAML node (line ${lineOf(node as Node, lineCounter)})`);
}
