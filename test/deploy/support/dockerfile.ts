export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  /** The FROM image with global ARG defaults substituted. */
  image: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Reads instructions the way BuildKit does: # comment lines dropped, trailing "\" joins lines. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (pending !== "" && line.trimStart().startsWith("#")) return;
    if (pending === "") start = i + 1;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\S+)\s*(.*)$/s.exec(full);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, " "), line: start });
  });
  return out;
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      const image = (m?.[1] ?? "").replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_all, name: string) => globalArgs[name] ?? "");
      stages.push({ name: m?.[2], image, instructions: [] });
    } else if (stages.length === 0 && ins.keyword === "ARG") {
      const [name, value = ""] = ins.args.split("=");
      globalArgs[name!.trim()] = value.trim();
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

/** COPY/ADD sources of a stage, split into build-context sources and --from=<stage> ones. */
export function copySources(stage: Stage): { fromStage: string | undefined; sources: string[] }[] {
  return stage.instructions
    .filter((i) => i.keyword === "COPY" || i.keyword === "ADD")
    .map((i) => {
      const words = i.args.split(" ");
      const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
      const paths = words.filter((w) => !w.startsWith("--"));
      return { fromStage: from, sources: paths.slice(0, -1) };
    });
}

/**
 * .dockerignore semantics (moby/patternmatcher): patterns match from the context root, "*"
 * stays within one path segment, "**" spans any number, "!" re-includes, the last matching
 * pattern wins, and a pattern that matches a directory covers everything below it.
 */
export function dockerIgnored(patternsText: string, path: string): boolean {
  let ignored = false;
  for (const raw of patternsText.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, "");
    const regex = new RegExp(
      `^${pattern
        .split("**")
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]"))
        .join(".*")}(/.*)?$`,
    );
    if (regex.test(path.replace(/^\.\/|\/+$/g, ""))) ignored = !negate;
  }
  return ignored;
}
