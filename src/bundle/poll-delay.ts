/** Delays between bundle downloads, as OPA's downloader computes them. */

const MIN_RETRY_DELAY_MS = 100;

/**
 * OPA's util.DefaultBackoff: 0 on the first retry, then 100 ms growing ×1.6 per failure up to
 * the maximum delay, with ±20 % jitter so a fleet does not retry in lockstep.
 */
export function retryDelayMs(retries: number, maxMs: number, random: () => number = Math.random): number {
  if (retries === 0) return 0;
  let backoff = MIN_RETRY_DELAY_MS;
  for (let left = retries; backoff < maxMs && left > 0; left--) backoff *= 1.6;
  backoff = Math.min(backoff, maxMs);
  return Math.max(0, backoff * (1 + 0.2 * (random() * 2 - 1)));
}

/** Regular polling: uniformly between the minimum and maximum delay. */
export function pollDelayMs(minMs: number, maxMs: number, random: () => number = Math.random): number {
  return minMs + (maxMs - minMs) * random();
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
