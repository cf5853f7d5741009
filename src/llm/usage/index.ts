/**
 * Usage extraction from LLM responses (plain JSON, SSE and NDJSON streams, compressed or not) and
 * the bytes that stop a stream in the provider's own error format. See docs/usage-extraction.md.
 */
export { createUsageReader, DEFAULT_MAX_EVENT_BYTES, type UsageReader, type UsageReaderOptions } from "./reader.js";
export { streamStopChunk } from "./stop-chunk.js";
export type { UsageCount } from "./tally.js";
