import type { Logger } from "./logger.js";

/** Lines of one kind a logger writes at most per this long; the next line counts those left out. */
const INTERVAL_MS = 1000;

const seen = new WeakMap<Logger, Map<string, { at: number; skipped: number }>>();

/**
 * Warns at most once a second per logger and `kind`: an outage answered 400 times a second must not
 * become 400 log lines a second (the metrics count every answer). The line written after a quiet
 * spell carries `suppressed`: how many of its kind were left out since the last one.
 */
export function warnThrottled(logger: Logger, kind: string, line: Record<string, unknown>, message: string, now = performance.now()): void {
  let kinds = seen.get(logger);
  if (!kinds) seen.set(logger, (kinds = new Map()));
  const last = kinds.get(kind);
  if (last && now - last.at < INTERVAL_MS) {
    last.skipped += 1;
    return;
  }
  kinds.set(kind, { at: now, skipped: 0 });
  logger.warn(last?.skipped ? { ...line, suppressed: last.skipped } : line, message);
}
