/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by area (package or
 * tollgate folder), as a share of the busy (non-idle) time.
 *
 *   npx tsx bench/cpuprofile.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { TollgateError } from "../src/errors.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Entry {
  name: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: Entry[];
  areas: Entry[];
}

const IDLE = new Set(["(idle)"]);

/** Where a frame's code lives: a package, a tollgate folder, Node's internals, or a V8 pseudo-frame. */
export function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  const own = /\/dist\/([^/]+)(?:\/([^/]+))?/.exec(url);
  if (own?.[1]) return own[2]?.endsWith(".js") || own[2] === undefined ? `tollgate ${own[1]}` : `tollgate ${own[1]}/${own[2]}`;
  if (url.startsWith("node:")) return "node internals";
  if (url.startsWith("wasm://")) return "policy WebAssembly (opa.wasm)";
  return url.replace(/^file:\/\//, "");
}

function label(frame: CallFrame): string {
  if (frame.url.startsWith("wasm://")) {
    // C++ names in the policy Wasm carry whole template signatures; the name before "(" is enough.
    return `${frame.functionName.split("(")[0] || "(anonymous)"} [wasm]`;
  }
  const where = frame.url ? `${frame.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, "$1/")}:${frame.lineNumber + 1}` : "";
  return `${frame.functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
}

export function summariseProfile(profile: CpuProfile, top = 25): ProfileSummary {
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) {
    throw new TollgateError("config_error", "not a V8 CPU profile (expected nodes, samples and timeDeltas)");
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    if (IDLE.has(node.callFrame.functionName)) {
      idleUs += dt;
      return;
    }
    busyUs += dt;
    const f = label(node.callFrame);
    fn.set(f, (fn.get(f) ?? 0) + dt);
    const a = areaOf(node.callFrame);
    area.set(a, (area.get(a) ?? 0) + dt);
  });
  const rank = (m: Map<string, number>, n: number): Entry[] =>
    [...m.entries()]
      .sort(([, a], [, b]) => b - a)
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return { busyMs: busyUs / 1000, idleMs: idleUs / 1000, functions: rank(fn, top), areas: rank(area, top) };
}

export function loadProfile(file: string): CpuProfile {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  } catch (err) {
    throw new TollgateError("config_error", `cannot read ${file}: ${TollgateError.from(err).message}`);
  }
}

export function profileMarkdown(title: string, s: ProfileSummary, top = 15): string {
  const rows = (es: Entry[]) => es.slice(0, top).map((e) => `| ${e.name.replace(/\|/g, "\\|")} | ${e.selfMs.toFixed(0)} | ${(e.share * 100).toFixed(1)} % |`);
  return [
    `#### ${title}`,
    "",
    `Busy ${(s.busyMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s. Self time by area:`,
    "",
    "| area | self ms | share of busy |",
    "|---|---:|---:|",
    ...rows(s.areas),
    "",
    "Top functions by self time:",
    "",
    "| function | self ms | share of busy |",
    "|---|---:|---:|",
    ...rows(s.functions),
  ].join("\n");
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" } } });
  const file = positionals[0];
  if (!file) throw new TollgateError("config_error", "usage: npx tsx bench/cpuprofile.ts <file.cpuprofile> [--top 25]");
  const top = Number(values.top);
  process.stdout.write(`${profileMarkdown(file, summariseProfile(loadProfile(file), top), top)}\n`);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`${TollgateError.from(err).message}\n`);
    process.exit(1);
  }
}
