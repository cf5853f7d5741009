import type { InputPaths } from "../bundle/built-policy.js";
import { isPlainObject } from "../json.js";

export type { InputPaths };

// What a decision cannot read is left out of the input the WebAssembly parses: a Check input
// carries the prompt three times (the raw body, parsed_body and llm.texts).

type Term = { type?: unknown; value?: unknown };

/**
 * The input paths the modules' references reach, from OPA's own AST (`rego.parse_module`), or
 * undefined when a module can read the input as a whole: a bare `input` (`walk(input)`,
 * `x := input`, `some v in input`, `import input`). A reference rooted at `input` keeps the
 * subtree at its constant prefix (`input.a.b[x].c` keeps a.b whole); an import keeps its path
 * whole, whatever the alias reads below it. Modules are added one at a time, so a caller can yield
 * to the event loop between them.
 */
export class InputPathCollector {
  // Null prototypes: a reference to input.__proto__ is a key like any other.
  private readonly root: InputPaths = Object.create(null) as InputPaths;
  private whole = false;

  add(module: unknown): void {
    this.visit(module);
  }

  result(): InputPaths | undefined {
    return this.whole ? undefined : this.root;
  }

  private keep(prefix: string[]): void {
    if (prefix.length === 0) {
      this.whole = true;
      return;
    }
    let node = this.root;
    for (let i = 0; i < prefix.length; i++) {
      const key = prefix[i]!;
      const next = Object.hasOwn(node, key) ? node[key] : undefined;
      if (next === true) return;
      if (i === prefix.length - 1) {
        node[key] = true;
        return;
      }
      node = next ?? (node[key] = Object.create(null) as InputPaths);
    }
  }

  private visit(value: unknown): void {
    if (this.whole) return;
    if (Array.isArray(value)) {
      for (const v of value) this.visit(v);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const term = value as Term;
    if (term.type === "var" && term.value === "input") {
      this.keep([]);
      return;
    }
    if (term.type === "ref" && Array.isArray(term.value) && isInputVar(term.value[0])) {
      const prefix: string[] = [];
      for (let i = 1; i < term.value.length; i++) {
        const part = term.value[i] as Term;
        if (part?.type !== "string" || typeof part.value !== "string") break;
        prefix.push(part.value);
      }
      this.keep(prefix);
      for (let i = 1; i < term.value.length; i++) this.visit(term.value[i]);
      return;
    }
    for (const v of Object.values(value)) this.visit(v);
  }
}

function isInputVar(term: unknown): boolean {
  return isPlainObject(term) && term["type"] === "var" && term["value"] === "input";
}

/**
 * The input with only what `paths` reaches: objects along a path are copied with the kept keys
 * only; what is kept whole, and any value that is not an object where a path goes on (an array,
 * a string), is the same value, not a copy.
 */
export function pruneInput(input: unknown, paths: InputPaths): unknown {
  if (!isPlainObject(input)) return input;
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(paths)) {
    if (!Object.hasOwn(input, key)) continue;
    const sub = paths[key]!;
    out[key] = sub === true ? input[key] : pruneInput(input[key], sub);
  }
  return out;
}
