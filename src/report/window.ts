import { TollgateError } from "../errors.js";

const DAY_MS = 86_400_000;
export const DEFAULT_WINDOW_DAYS = 30;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A date (YYYY-MM-DD, taken as UTC midnight; as "to" it means the end of that day) or an ISO date-time with zone. */
function parseBound(value: string, name: "from" | "to"): number {
  if (DATE_ONLY.test(value)) {
    const start = Date.parse(`${value}T00:00:00.000Z`);
    if (!Number.isNaN(start) && new Date(start).toISOString().startsWith(value)) return name === "to" ? start + DAY_MS - 1 : start;
  } else if (DATE_TIME.test(value)) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return t;
  }
  throw new TollgateError("config_error", `invalid ${name} ${JSON.stringify(value)}: expected YYYY-MM-DD or an ISO 8601 time with a zone, e.g. 2025-01-31T12:00:00Z`);
}

/** The report period. Defaults: to = now, from = 30 days before to. */
export function reportWindow(opts: { from?: string | undefined; to?: string | undefined; now?: number }): { from: string; to: string } {
  const to = opts.to ? parseBound(opts.to, "to") : (opts.now ?? Date.now());
  const from = opts.from ? parseBound(opts.from, "from") : to - DEFAULT_WINDOW_DAYS * DAY_MS;
  if (from > to) throw new TollgateError("config_error", `from (${new Date(from).toISOString()}) is after to (${new Date(to).toISOString()})`);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}
