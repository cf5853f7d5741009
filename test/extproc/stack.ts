import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import type { CheckRequest, CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { checkRequest } from "../support/app.js";
import type { LogCapture } from "../support/app.js";
import { waitFor } from "../support/wait.js";
import { splitAnywhere, type UpstreamResponse } from "./envoy-driver.js";

export const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

export interface TestTenant {
  name: string;
  apiKey: string;
  limits: Record<string, number | boolean>;
}

/** The shipped policies/ pack, with test tenants added to its data (role "extproc": every provider's test models). */
export function packWithTenants(tenants: TestTenant[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-extproc-"));
  cpSync("policies", dir, { recursive: true });
  const file = path.join(dir, "data.json");
  const data = JSON.parse(readFileSync(file, "utf8")) as { gateway: { tenants: Record<string, unknown>; roles: Record<string, unknown> } };
  data.gateway.roles["extproc"] = {
    models: ["gpt-4o-mini", "claude-3-5-haiku*", "gemini-1.5-flash", "llama3.2", "mistral-small-latest"],
    operations: ["chat", "completion", "responses"],
    max_output_tokens: 100_000,
    stream: true,
  };
  for (const t of tenants) data.gateway.tenants[t.name] = { role: "extproc", api_key_sha256: [sha256(t.apiKey)], upstream: "mock-llm", limits: t.limits };
  writeFileSync(file, JSON.stringify(data));
  return dir;
}

export interface LlmCall {
  /** Path as the client sends it (and mock-llm answers it). */
  path: string;
  body: Record<string, unknown>;
  /** x-mock-* knobs for mock-llm. */
  mock?: Record<string, string>;
}

export function llmCheck(call: LlmCall, apiKey: string): CheckRequest {
  const body = JSON.stringify(call.body);
  const auth: Record<string, string> = call.path.startsWith("/v1/messages") ? { "x-api-key": apiKey } : { authorization: `Bearer ${apiKey}` };
  return checkRequest({
    method: "POST",
    path: call.path,
    body,
    headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ":authority": "localhost:10000", ...auth },
  });
}

/** Envoy's stream dynamic metadata after ext_authz: Check's dynamic_metadata under the filter's namespace. */
export function metadataAfterCheck(res: CheckResponse): Record<string, Record<string, unknown>> {
  return res.dynamicMetadata ? { "envoy.filters.http.ext_authz": res.dynamicMetadata } : {};
}

/**
 * The upstream half Envoy's router would do: the request to mock-llm over plain HTTP, the response
 * bytes exactly as they arrive (no decompression), re-cut at arbitrary boundaries.
 */
export function callUpstream(mockUrl: string, call: LlmCall, seed: number, maxChunk = 97): Promise<UpstreamResponse & { headers: Record<string, string> }> {
  const body = JSON.stringify(call.body);
  return new Promise((resolve, reject) => {
    const req = request(new URL(call.path, mockUrl), { method: "POST", headers: { "content-type": "application/json", "accept-encoding": "identity", ...call.mock } }, (res) => {
      const headers: Record<string, string> = {};
      for (const name of ["content-type", "content-encoding"]) {
        const v = res.headers[name];
        if (typeof v === "string") headers[name] = v;
      }
      resolve({ status: res.statusCode ?? 502, headers, body: rechunk(res, seed, maxChunk) });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Re-cuts a byte stream at pseudo-random boundaries (mid-line, mid-event, mid-UTF-8 character). A reset upstream just ends it. */
export async function* rechunk(source: AsyncIterable<Uint8Array>, seed: number, maxChunk = 97): AsyncGenerator<Uint8Array> {
  let s = seed;
  try {
    for await (const chunk of source) {
      s += 1;
      yield* splitAnywhere(chunk, s, maxChunk);
    }
  } catch {
    // ECONNRESET from x-mock-disconnect-after: the upstream response just ends early
  }
}

/**
 * Waits, when needed, until at least `ms` remain in the current minute. The pack's minute counters
 * are fixed windows, reconciled only inside the window they were reserved in (window_rolled
 * otherwise, docs/policy-limits.md): a test that expects them exact must not straddle a minute.
 */
export function startEarlyInMinute(ms: number): Promise<void> {
  return startEarlyInWindow(60_000, ms);
}

/** Waits, when needed, until at least `ms` remain in the current epoch-aligned window of `windowMs`. */
export async function startEarlyInWindow(windowMs: number, ms: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < ms) await new Promise((r) => setTimeout(r, left + 50));
}

/** Waits for the usage_reconciled line of a decision and returns it. */
export async function reconciledLine(logs: LogCapture, decisionId: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(
    () => {
      found = logs.events("usage_reconciled").find((l) => l["decision_id"] === decisionId);
      return found !== undefined;
    },
    timeoutMs,
    `usage_reconciled for ${decisionId}`,
  );
  return found!;
}

/** The usage a response reports, read from its whole (unsplit) SSE/NDJSON/JSON body by plain parsing: the test's own count, not the reader's. */
export function reportedUsage(provider: "openai" | "anthropic" | "gemini" | "ollama", body: string): { input: number; output: number } {
  const docs: Record<string, unknown>[] = [];
  for (const line of body.split("\n")) {
    const text = line.startsWith("data: ") ? line.slice(6) : line;
    if (!text.startsWith("{")) continue;
    docs.push(JSON.parse(text) as Record<string, unknown>);
  }
  if (provider === "openai") {
    const u = docs.map((d) => d["usage"] as { prompt_tokens: number; completion_tokens: number } | null | undefined).filter((x) => x).at(-1)!;
    return { input: u.prompt_tokens, output: u.completion_tokens };
  }
  if (provider === "anthropic") {
    // Anthropic counts cache reads and writes apart from input_tokens; all three are prompt tokens.
    const start = docs.find((d) => d["type"] === "message_start")!["message"] as { usage: { input_tokens: number; cache_read_input_tokens?: number; cache_creation_input_tokens?: number } };
    const delta = docs.filter((d) => d["type"] === "message_delta").at(-1)!["usage"] as { output_tokens: number };
    const u = start.usage;
    return { input: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0), output: delta.output_tokens };
  }
  if (provider === "gemini") {
    const u = docs.map((d) => d["usageMetadata"] as { promptTokenCount: number; candidatesTokenCount?: number; thoughtsTokenCount?: number } | undefined).filter((x) => x).at(-1)!;
    return { input: u.promptTokenCount, output: (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0) };
  }
  const last = docs.filter((d) => d["done"] === true).at(-1)! as { prompt_eval_count?: number; eval_count: number };
  return { input: last.prompt_eval_count ?? 0, output: last.eval_count };
}
