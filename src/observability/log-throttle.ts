import type { Logger } from "./logger.js";

/** Lines of one kind a logger writes at most per this long, unless the caller gives its own interval. */
const DEFAULT_INTERVAL_MS = 1000;

const seen = new WeakMap<Logger, Map<string, { at: number; skipped: number }>>();

/**
 * Warns at most once per interval (a second unless given) per logger and `kind`: an outage answered
 * 400 times a second must not become 400 log lines a second (the metrics count every answer). The
 * line written after a quiet spell carries `suppressed`: how many of its kind were left out since
 * the last one.
 */
export function warnThrottled(logger: Logger, kind: string, line: Record<string, unknown>, message: string, o: { intervalMs?: number; now?: number } = {}): void {
  const now = o.now ?? performance.now();
  let kinds = seen.get(logger);
  if (!kinds) seen.set(logger, (kinds = new Map()));
  const last = kinds.get(kind);
  if (last && now - last.at < (o.intervalMs ?? DEFAULT_INTERVAL_MS)) {
    last.skipped += 1;
    return;
  }
  kinds.set(kind, { at: now, skipped: 0 });
  logger.warn(last?.skipped ? { ...line, suppressed: last.skipped } : line, message);
}

/** Lets the next line of `kind` through at once (e.g. the failure it reports was resolved). */
export function resetThrottle(logger: Logger, kind: string): void {
  seen.get(logger)?.delete(kind);
}
