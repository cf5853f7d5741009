import type { Redis } from "ioredis";

/** Commands the bench itself sends between runs; never counted against a row. */
const OWN = new Set(["info", "flushall", "ping", "select", "client", "hello", "command"]);

/** Calls per command name since the server started (INFO commandstats), without the bench's own. */
export async function commandCalls(client: Redis): Promise<Record<string, number>> {
  const text = await client.info("commandstats");
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m?.[1] && m[2] && !OWN.has(m[1])) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** (after − before) ÷ requests, per command. */
export function perRequest(before: Record<string, number>, after: Record<string, number>, requests: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (requests <= 0) return out;
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d / requests;
  }
  return out;
}
