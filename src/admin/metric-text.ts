import type { MetricSample } from "../observability/metric-values.js";

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The samples of the named metrics in Prometheus exposition text (what the primary of `--workers`
 * aggregates from every worker). Comments and other metrics are skipped; a sample line that does
 * not parse is skipped too (the text comes from prom-client, not from a client).
 */
export function samplesFromText(text: string, names: ReadonlySet<string>): Map<string, MetricSample[]> {
  const out = new Map<string, MetricSample[]>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m || !names.has(m[1]!)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === "n" ? "\n" : c));
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}
