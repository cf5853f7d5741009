/** Proleptic Gregorian calendar arithmetic on Unix seconds, as Go's time package does it in UTC. */

export interface CivilTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"] as const;

/** Days since 1970-01-01 of a (possibly denormalised) date; months outside 1..12 roll into years. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y0 = year + Math.floor((month - 1) / 12);
  const m = (((month - 1) % 12) + 12) % 12 + 1;
  const y = m <= 2 ? y0 - 1 : y0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

export function daysIn(year: number, month: number): number {
  return daysFromCivil(year, month + 1, 1) - daysFromCivil(year, month, 1);
}

export function civilFromUnixSeconds(seconds: number): CivilTime {
  const days = Math.floor(seconds / 86400);
  const rest = seconds - days * 86400;
  return { ...civilFromDays(days), hour: Math.floor(rest / 3600), minute: Math.floor((rest % 3600) / 60), second: rest % 60 };
}

export function unixSecondsFromCivil(t: CivilTime): number {
  return daysFromCivil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.minute * 60 + t.second;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws RangeError for a zone the runtime's ICU data does not know. */
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", era: "short",
      year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** A time zone: UTC (offset 0) or an IANA zone resolved through Intl. */
export interface Zone {
  /** Seconds east of UTC in effect at the given Unix second. */
  offsetAt(unixSeconds: number): number;
}

export const UTC: Zone = { offsetAt: () => 0 };

export function ianaZone(name: string): Zone {
  const f = formatter(name);
  return {
    offsetAt(unixSeconds) {
      const parts: Record<string, string> = {};
      for (const p of f.formatToParts(unixSeconds * 1000)) parts[p.type] = p.value;
      const year = Number(parts["year"]) * (parts["era"] === "BC" ? -1 : 1) + (parts["era"] === "BC" ? 1 : 0);
      const wall = unixSecondsFromCivil({
        year, month: Number(parts["month"]), day: Number(parts["day"]),
        hour: Number(parts["hour"]), minute: Number(parts["minute"]), second: Number(parts["second"]),
      });
      return wall - unixSeconds;
    },
  };
}

/** Go's time.Date for a zone: look up the offset at the wall time, re-check once near a transition. */
export function unixSecondsFromWall(wall: CivilTime, zone: Zone): number {
  const asUtc = unixSecondsFromCivil(wall);
  let offset = zone.offsetAt(asUtc);
  if (offset !== 0) {
    const again = zone.offsetAt(asUtc - offset);
    if (again !== offset) offset = again;
  }
  return asUtc - offset;
}
