/**
 * Exponential backoff with "equal jitter": the ceiling doubles per failed attempt (1-based) up to
 * maxMs, and the delay is drawn from its upper half, so retries spread out yet never come sooner
 * than half the ceiling.
 */
export function backoffDelay(opts: { attempt: number; baseMs: number; maxMs: number; random: () => number }): number {
  const exponent = Math.min(Math.max(0, opts.attempt - 1), 52);
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** exponent);
  const r = Math.min(1, Math.max(0, opts.random()));
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}
