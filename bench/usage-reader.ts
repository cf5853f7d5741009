/**
 * CPU cost of reading usage from streamed responses, per chunk, as the ext_proc server pays it
 * (push() then current() for every body chunk), beside a floor that only splits the same bytes
 * into events and JSON.parses them. 200-chunk responses, one SSE event (or NDJSON line) per chunk.
 *
 *   npx tsx bench/usage-reader.ts [--responses 300]
 */
import { createUsageReader } from "../src/llm/usage/index.js";
import { CHUNKS, gzipChunks, STREAMS, type Stream } from "./llm-streams.js";

const responses = Number(process.argv[process.argv.indexOf("--responses") + 1]) || 300;

/** The least any reader does: decode, find event boundaries, JSON.parse each event. */
function floor(chunks: readonly Uint8Array[]): void {
  const dec = new TextDecoder();
  let buf = "";
  for (const c of chunks) {
    buf += dec.decode(c, { stream: true });
    let at: number;
    while ((at = buf.indexOf("\n")) !== -1) {
      const line = buf.slice(0, at);
      buf = buf.slice(at + 1);
      const json = line.startsWith("data: ") ? line.slice(6) : line.startsWith("{") ? line : "";
      if (json !== "" && json !== "[DONE]" && json !== "\r") JSON.parse(json);
    }
  }
}

async function reader(s: Stream, chunks: readonly Uint8Array[], encoding?: string): Promise<void> {
  const r = createUsageReader({ provider: s.provider, operation: s.operation, stream: true, contentType: s.contentType, contentEncoding: encoding });
  for (const c of chunks) {
    r.push(c);
    r.current();
  }
  const count = await r.end();
  if (count.source !== "reported" || r.malformed !== 0) throw new Error(`${s.name}: ${JSON.stringify(count)} malformed ${r.malformed}`);
}

async function cpuMicros(run: () => Promise<void> | void): Promise<number> {
  for (let i = 0; i < 20; i++) await run(); // warm-up
  const start = process.cpuUsage();
  for (let i = 0; i < responses; i++) await run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / responses / CHUNKS;
}

const rows: string[] = [];
for (const s of STREAMS) {
  const floorUs = await cpuMicros(() => floor(s.chunks));
  const readerUs = await cpuMicros(() => reader(s, s.chunks));
  rows.push(`| ${s.name} | ${readerUs.toFixed(2)} | ${floorUs.toFixed(2)} | ${(readerUs / floorUs).toFixed(1)}× |`);
}
const openai = STREAMS[0]!;
const gz = gzipChunks(openai.chunks.map((c) => new TextDecoder().decode(c)));
const gzUs = await cpuMicros(() => reader(openai, gz, "gzip"));
rows.push(`| OpenAI chat, gzip (incl. zlib) | ${gzUs.toFixed(2)} | | |`);
console.log(`${responses} responses × ${CHUNKS} chunks each, CPU µs per chunk (push + current), node ${process.version}\n`);
console.log("| stream | reader µs/chunk | floor µs/chunk (split + JSON.parse) | reader ÷ floor |\n| --- | --- | --- | --- |");
console.log(rows.join("\n"));
