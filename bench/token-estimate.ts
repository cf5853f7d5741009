/**
 * Measures src/llm's cheap token estimate against real tokenizers (js-tiktoken o200k_base and
 * cl100k_base) and writes docs/token-estimate.md.
 *
 *   npx tsx bench/token-estimate.ts          # measure, print, write the doc
 *   npx tsx bench/token-estimate.ts --fit    # re-fit the coefficients on the training seeds
 */
import { writeFileSync } from "node:fs";
import { getEncoding, type Tiktoken } from "js-tiktoken";
import { buildLlmInput } from "../src/llm/build-llm-input.js";
import { estimateTextTokens, textFeatures, type TextFeatures, type TokenProfile } from "../src/llm/estimate-tokens.js";
import { buildChatCorpus, buildPromptCorpus, type CorpusPrompt } from "../test/llm/fixtures/prompt-corpus.js";

const HELD_OUT_SEED = 20240601;
const TRAINING_SEEDS = [101, 102, 103];
const DOC_PATH = new URL("../docs/token-estimate.md", import.meta.url);
const PROFILES: readonly { profile: TokenProfile; encoding: "o200k_base" | "cl100k_base"; model: string }[] = [
  { profile: "o200k", encoding: "o200k_base", model: "gpt-4o" },
  { profile: "cl100k", encoding: "cl100k_base", model: "gpt-4" },
];

interface Stats {
  n: number;
  mape: number;
  p50: number;
  p90: number;
  p99: number;
  bias: number;
  weighted: number;
  under10: number;
  under25: number;
  worstUnder: number;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Errors are (estimate − truth) / truth; positive means over-estimated. */
function stats(pairs: readonly { estimate: number; truth: number }[]): Stats {
  const rel = pairs.map(({ estimate, truth }) => (estimate - truth) / truth);
  const abs = rel.map(Math.abs).sort((a, b) => a - b);
  const sum = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0);
  return {
    n: pairs.length,
    mape: (sum(abs) / abs.length) * 100,
    p50: quantile(abs, 0.5) * 100,
    p90: quantile(abs, 0.9) * 100,
    p99: quantile(abs, 0.99) * 100,
    bias: (sum(rel) / rel.length) * 100,
    weighted: (sum(pairs.map((p) => Math.abs(p.estimate - p.truth))) / sum(pairs.map((p) => p.truth))) * 100,
    under10: rel.filter((r) => r < -0.1).length,
    under25: rel.filter((r) => r < -0.25).length,
    worstUnder: Math.min(0, ...rel) * 100,
  };
}

const pct = (x: number): string => `${x.toFixed(1)}%`;
const signed = (x: number): string => `${x > 0 ? "+" : ""}${x.toFixed(1)}%`;

function row(label: string, s: Stats): string {
  return `| ${label} | ${s.n} | ${pct(s.mape)} | ${pct(s.p50)} | ${pct(s.p90)} | ${pct(s.p99)} | ${signed(s.bias)} | ${pct(s.weighted)} | ${s.under10} | ${s.under25} | ${signed(s.worstUnder)} |`;
}

const HEADER = [
  "| sample | n | mean abs % err | p50 | p90 | p99 | bias | token-weighted err | under by >10% | under by >25% | worst under |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
];

function textTable(corpus: readonly CorpusPrompt[], enc: Tiktoken, profile: TokenProfile): { lines: string[]; all: Stats } {
  const pairs = corpus.map((p) => ({ category: p.category, estimate: estimateTextTokens(p.text, profile), truth: enc.encode(p.text).length }));
  const all = stats(pairs);
  const lines = [...HEADER, row("**all prompts**", all)];
  for (const category of [...new Set(corpus.map((p) => p.category))]) {
    lines.push(row(category, stats(pairs.filter((p) => p.category === category))));
  }
  return { lines, all };
}

/** Ground truth for chats is OpenAI's documented count: 3 per message + role + content, +3 for the reply. */
function chatTable(enc: Tiktoken, model: string): Stats {
  const pairs = buildChatCorpus().map((chat) => {
    const truth = chat.messages.reduce((s, m) => s + 3 + enc.encode(m.role).length + enc.encode(m.content).length, 3);
    const llm = buildLlmInput({ method: "POST", path: "/v1/chat/completions", headers: {}, truncated: false, body: { model, messages: chat.messages } });
    return { estimate: llm?.estimated_input_tokens ?? 0, truth };
  });
  return stats(pairs);
}

function speed(): { mib: number; ms: number } {
  const text = buildPromptCorpus(HELD_OUT_SEED).map((p) => p.text).join("\n").repeat(10).slice(0, 1 << 20);
  estimateTextTokens(text);
  const start = performance.now();
  const rounds = 5;
  for (let i = 0; i < rounds; i++) estimateTextTokens(text);
  return { mib: text.length / (1 << 20), ms: (performance.now() - start) / rounds };
}

/** Coordinate descent with restarts; under-estimates cost 3× as much as over-estimates. */
function fit(enc: Tiktoken): Record<string, number> {
  const keys = Object.keys(textFeatures("a")) as (keyof TextFeatures)[];
  const data = TRAINING_SEEDS.flatMap((seed) => buildPromptCorpus(seed)).map((p) => {
    const f = textFeatures(p.text);
    return { f: keys.map((k) => f[k]), truth: enc.encode(p.text).length };
  });
  const loss = (w: readonly number[]): number =>
    data.reduce((s, { f, truth }) => {
      const est = Math.max(1, Math.ceil(f.reduce((acc, v, i) => acc + v * (w[i] ?? 0), 0)));
      const r = (est - truth) / truth;
      return s + (r < 0 ? -3 * r : r);
    }, 0) / data.length;
  const descend = (start: readonly number[]): number[] => {
    let w = start.slice();
    for (let step = 0.25; step > 0.002; ) {
      let improved = false;
      for (let j = 0; j < w.length; j++) {
        for (const delta of [step, -step]) {
          const next = w.slice();
          next[j] = Math.max(0, (next[j] ?? 0) + delta);
          if (loss(next) < loss(w) - 1e-9) {
            w = next;
            improved = true;
          }
        }
      }
      if (!improved) step /= 2;
    }
    return w;
  };
  // Restarts from deterministic perturbations of the best point, to step out of local minima.
  let seed = 9;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  let w = descend(keys.map(() => 0.5));
  for (let restart = 0; restart < 6; restart++) {
    const next = descend(w.map((v) => v * (0.6 + 0.8 * random())));
    if (loss(next) < loss(w)) w = next;
  }
  return Object.fromEntries(keys.map((k, i) => [k, Math.round((w[i] ?? 0) * 100) / 100]));
}

function main(): void {
  if (process.argv.includes("--fit")) {
    for (const { profile, encoding } of PROFILES) console.log(profile, fit(getEncoding(encoding)));
    return;
  }
  const corpus = buildPromptCorpus(HELD_OUT_SEED);
  const sections: string[] = [];
  const summary: string[] = [];
  for (const { profile, encoding, model } of PROFILES) {
    const enc = getEncoding(encoding);
    const { lines, all } = textTable(corpus, enc, profile);
    const chat = chatTable(enc, model);
    summary.push(
      `- **${profile}** vs ${encoding}: mean absolute error ${pct(all.mape)} (p50 ${pct(all.p50)}, p90 ${pct(all.p90)}, p99 ${pct(all.p99)}), bias ${signed(all.bias)}; under-estimated by more than 10% on ${all.under10} of ${all.n} prompts, by more than 25% on ${all.under25}. Whole chats (${chat.n}, ${model}): mean absolute error ${pct(chat.mape)}, bias ${signed(chat.bias)}, p99 ${pct(chat.p99)}.`,
    );
    sections.push(`### Profile \`${profile}\` against \`${encoding}\`\n`, ...lines, "", `Whole chats through \`buildLlmInput\` (model \`${model}\`):\n`, ...HEADER, row("chats", chat), "");
    console.log(`\n${profile} vs ${encoding}\n${lines.join("\n")}\n${row("chats", chat)}`);
  }
  const { mib, ms } = speed();
  console.log(`\nspeed: ${ms.toFixed(1)} ms for ${mib.toFixed(2)} MiB`);
  writeFileSync(DOC_PATH, renderDoc({ corpusSize: corpus.length, summary, sections, speed: `${ms.toFixed(1)} ms per ${mib.toFixed(2)} MiB` }));
  console.log(`wrote ${DOC_PATH.pathname}`);
}

function renderDoc(parts: { corpusSize: number; summary: string[]; sections: string[]; speed: string }): string {
  return `# Token estimate (\`input.llm.estimated_input_tokens\`)

_Generated by \`npx tsx bench/token-estimate.ts\`; edit the script, not this file._

tollgate reserves token budget before a request reaches the model, so it needs a token count
without running a tokenizer on the request path. \`estimateTextTokens\` (src/llm/estimate-tokens.ts)
makes one pass over the text and counts character-class features that mirror how BPE tokenizers
pre-split text:

- ASCII sub-words (camelCase splits into parts; a leading single space is free), with extra weight
  for letters beyond 6 and beyond 12 (long rare words break into several pieces);
- words in other alphabetic scripts, and their Latin-extended, Cyrillic/Greek and other letters;
- Han, kana and Hangul characters, and letters of scripts written without spaces (Thai, Lao,
  Myanmar, Khmer), each counted per character;
- digit groups of up to three digits (both tokenizers split numbers that way);
- punctuation runs and characters, whitespace runs, newline runs;
- base64-like blobs (16+ characters of \`[A-Za-z0-9+/=_-]\` mixing digits and both cases);
- emoji, joiners (ZWJ, VS16) and other symbols.

A linear model per profile turns the counts into tokens, rounded up; a floor of one token per
8 characters keeps degenerate input (one character repeated, whitespace) from being under-counted.
The coefficients were fitted by coordinate descent (\`--fit\`) on corpora built from seeds
${TRAINING_SEEDS.join(", ")} (${TRAINING_SEEDS.length * parts.corpusSize} prompts), with under-estimates weighted 3× over-estimates because the figure reserves budget.
The tables below are measured on a separate corpus (seed ${HELD_OUT_SEED}, ${parts.corpusSize} prompts). All corpora are
generated deterministically from the hand-written fragments in test/llm/fixtures (English prose,
code, JSON, Chinese/Japanese/Korean, European and other scripts, emoji, numbers, identifiers and
base64, markdown, short chat turns, mixtures); they share those fragments, so the held-out figures
are optimistic for text unlike them.

For a request, \`buildLlmInput\` sums the estimate over every prompt text (system prompt, message
text and text parts, tool results, Responses \`instructions\`/\`input\`, Gemini \`parts[].text\`,
Anthropic \`system\` and blocks) and over the JSON of tool definitions and tool-call arguments,
adds token-id prompts as given, and adds OpenAI's chat framing (4 per message, 3 for the reply).
Images, audio and files are not counted (\`has_images\` flags them). Text past the 1 MiB scan
budget is extrapolated at the ratio seen in the scanned part.

## Profiles

- \`o200k\`: OpenAI's current models (gpt-4o, gpt-4.1, o-series, gpt-5), Gemini and Mistral.
- \`cl100k\`: gpt-4, gpt-3.5, OpenAI embeddings, and — as a conservative guess — Anthropic and
  Ollama. Claude's, Gemini's, Mistral's and local models' tokenizers are not public or not
  bundled here, so only the OpenAI figures below are measured; for those providers the estimate
  is a proxy.

## Results

${parts.summary.join("\n")}

Estimating mixed text takes ${parts.speed} on the machine that generated this file (the scan
budget per request is 1 MiB).

Columns: errors are (estimate − tokenizer) / tokenizer per prompt; bias is the mean signed error
(positive = over-estimate); token-weighted error is Σ|estimate − tokenizer| / Σ tokenizer. On
one- or two-token chat turns a single token of difference is 50–100%, which dominates p99.

${parts.sections.join("\n")}
## Known weak spots

- Languages other than English written mostly in ASCII letters (e.g. Italian) are counted like
  English, whose words are cheaper, and can be under-estimated by 10–25%.
- Runs of one rare CJK character are under-counted (each is a full token or more, the model
  assumes the average).
- Hex strings and UUIDs are over-estimated by 15–20%.
- Arabic, Hebrew, Devanagari and Thai rest on a handful of sentences each; treat their figures as
  rough.
- Only OpenAI's tokenizers are measured. Claude's tokenizer is reported to produce more tokens
  than OpenAI's for the same text; the \`cl100k\` profile narrows that gap for Anthropic but is not a
  measurement of it.
`;
}

main();
