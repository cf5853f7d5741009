import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** One timed run of one row. */
export interface Sample {
  row: string;
  round: number;
  count: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Server process user+system CPU seconds per 1,000 requests. */
  cpuPer1k: number;
  /** The bench Redis's CPU seconds per 1,000 requests (0 for rows that do not touch it). */
  redisCpuPer1k: number;
  /** Redis commands per request, by command name. */
  redisCommands: Record<string, number>;
  errors: number;
  nonOk: number;
  /** Cores kept busy by everything but the server and Redis during the run: ghz, plus anything else on the machine. */
  otherCores: number;
}

export interface RowSummary {
  row: string;
  label: string;
  rounds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuPer1k: number;
  redisCpuPer1k: number;
  redisCommands: Record<string, number>;
  errors: number;
  nonOk: number;
  otherCores: number;
}

export interface Pair {
  name: string;
  numerator: string;
  denominator: string;
  goal?: number;
}

export interface PairResult extends Pair {
  /** Median of the per-round rps ratios (each from two runs next to each other in time). */
  rpsRatio: number;
  minRatio: number;
  maxRatio: number;
  /** Denominator CPU per request ÷ numerator CPU per request (above 1: the numerator is cheaper). */
  cpuRatio: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarise(samples: readonly Sample[], labels: Record<string, string>): RowSummary[] {
  const rows = [...new Set(samples.map((s) => s.row))];
  return rows.map((row) => {
    const mine = samples.filter((s) => s.row === row);
    const commands: Record<string, number> = {};
    for (const name of new Set(mine.flatMap((s) => Object.keys(s.redisCommands)))) commands[name] = median(mine.map((s) => s.redisCommands[name] ?? 0));
    return {
      row,
      label: labels[row] ?? row,
      rounds: mine.length,
      rps: median(mine.map((s) => s.rps)),
      p50Ms: median(mine.map((s) => s.p50Ms)),
      p99Ms: median(mine.map((s) => s.p99Ms)),
      cpuPer1k: median(mine.map((s) => s.cpuPer1k)),
      redisCpuPer1k: median(mine.map((s) => s.redisCpuPer1k)),
      redisCommands: commands,
      errors: mine.reduce((n, s) => n + s.errors, 0),
      nonOk: mine.reduce((n, s) => n + s.nonOk, 0),
      otherCores: median(mine.map((s) => s.otherCores)),
    };
  });
}

/** Ratios computed round by round, so each compares two runs made back to back. */
export function pairRatios(samples: readonly Sample[], pairs: readonly Pair[]): PairResult[] {
  const out: PairResult[] = [];
  for (const pair of pairs) {
    const rounds = [...new Set(samples.map((s) => s.round))];
    const rps: number[] = [];
    const cpu: number[] = [];
    for (const r of rounds) {
      const a = samples.find((s) => s.round === r && s.row === pair.numerator);
      const b = samples.find((s) => s.round === r && s.row === pair.denominator);
      if (!a || !b) continue;
      rps.push(a.rps / b.rps);
      cpu.push(b.cpuPer1k / a.cpuPer1k);
    }
    if (rps.length === 0) continue;
    out.push({ ...pair, rpsRatio: median(rps), minRatio: Math.min(...rps), maxRatio: Math.max(...rps), cpuRatio: median(cpu) });
  }
  return out;
}

const fmt = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

export function formatCommands(c: Record<string, number>): string {
  const parts = Object.entries(c)
    .filter(([, v]) => v > 0.0005)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${k} ${fmt(v, 2)}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}

export function rowsTable(rows: readonly RowSummary[]): string {
  const head = "| row | rps | p50 ms | p99 ms | server CPU s / 1k req | Redis CPU s / 1k req | Redis commands / req | errors | non-OK | other load, cores |\n|---|---:|---:|---:|---:|---:|---|---:|---:|---:|";
  const lines = rows.map(
    (r) => `| ${r.label} | ${fmt(r.rps, 0)} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p99Ms, 3)} | ${fmt(r.cpuPer1k, 4)} | ${fmt(r.redisCpuPer1k, 4)} | ${formatCommands(r.redisCommands)} | ${r.errors} | ${r.nonOk} | ${fmt(r.otherCores, 2)} |`,
  );
  return [head, ...lines].join("\n");
}

export function pairsTable(pairs: readonly PairResult[]): string {
  const head = "| pair | rps ratio (median) | per-round range | CPU per request, denominator ÷ numerator | goal | met |\n|---|---:|---|---:|---:|---|";
  const lines = pairs.map((p) => {
    const goal = p.goal === undefined ? "–" : `≥ ${p.goal}`;
    const met = p.goal === undefined ? "–" : p.rpsRatio >= p.goal ? "yes" : "**no**";
    return `| ${p.name} | ${fmt(p.rpsRatio, 2)} | ${fmt(p.minRatio, 2)} – ${fmt(p.maxRatio, 2)} | ${fmt(p.cpuRatio, 2)} | ${goal} | ${met} |`;
  });
  return [head, ...lines].join("\n");
}

/** Replaces the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`, appending the block when absent. */
export function replaceSection(doc: string, name: string, body: string): string {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i >= 0 && j > i) return doc.slice(0, i) + block + doc.slice(j + end.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

export function writeSection(file: string, name: string, body: string): void {
  const doc = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n";
  writeFileSync(file, replaceSection(doc, name, body));
}
