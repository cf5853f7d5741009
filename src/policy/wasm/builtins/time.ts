import {
  civilFromUnixSeconds, daysIn, ianaZone, unixSecondsFromCivil, unixSecondsFromWall, UTC, WEEKDAYS, type CivilTime, type Zone,
} from "./calendar.js";
import { builtinError, intOperand, stringOperand, type BuiltinImpl, type JsonValue } from "./operands.js";

const NS_PER_SECOND = 1_000_000_000n;
const MIN_NS = -(2n ** 63n);
const MAX_NS = 2n ** 63n - 1n;

/** An instant with the zone it is read in, as OPA's tzTime() yields from `ns` or `[ns, tz]`. */
interface ZonedTime {
  ns: bigint;
  zone: Zone;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

function zoneFor(name: string, tz: string): Zone {
  if (tz === "" || tz === "UTC") return UTC;
  try {
    return ianaZone(tz === "Local" ? Intl.DateTimeFormat().resolvedOptions().timeZone : tz);
  } catch (err) {
    throw builtinError(name, `unknown time zone ${tz}`, err);
  }
}

function zonedTime(name: string, value: JsonValue | undefined): ZonedTime {
  let nsValue: JsonValue | undefined = value;
  let zone = UTC;
  if (Array.isArray(value)) {
    if (value.length === 0) throw builtinError(name, "operand 1 must be one of {number, array} but got empty array");
    nsValue = value[0];
    if (value.length > 1) zone = zoneFor(name, stringOperand(name, value[1], 1));
  } else if (typeof value !== "number") {
    throw builtinError(name, "operand 1 must be either number (ns) or [number (ns), string (tz)]");
  }
  if (typeof nsValue !== "number") throw builtinError(name, "operand 1 must be number");
  if (!Number.isInteger(nsValue)) throw builtinError(name, "timestamp too big");
  const ns = BigInt(nsValue);
  if (ns < MIN_NS || ns > MAX_NS) throw builtinError(name, "timestamp too big");
  return { ns, zone };
}

function wallClock(t: ZonedTime): { wall: CivilTime; subsecond: bigint } {
  const seconds = floorDiv(t.ns, NS_PER_SECOND);
  const unix = Number(seconds);
  return { wall: civilFromUnixSeconds(unix + t.zone.offsetAt(unix)), subsecond: t.ns - seconds * NS_PER_SECOND };
}

function safeNs(name: string, ns: bigint): bigint {
  if (ns < MIN_NS || ns > MAX_NS) throw builtinError(name, "time outside of valid range");
  return ns;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$/;

/** Go's time.Parse(time.RFC3339, s), including its tolerance for a fractional second. */
export function parseRfc3339Ns(name: string, s: string): bigint {
  const m = RFC3339.exec(s);
  if (!m) throw builtinError(name, `parsing time ${JSON.stringify(s)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw builtinError(name, `parsing time ${JSON.stringify(s)}: value out of range`);
  }
  const fraction = BigInt(((m[7] ?? "").slice(0, 9)).padEnd(9, "0"));
  const tz = m[8] as string;
  // The general parser Go falls back to bounds a zone offset by 24 hours and 60 minutes.
  if (tz !== "Z" && (Number(tz.slice(1, 3)) > 24 || Number(tz.slice(4, 6)) > 60)) {
    throw builtinError(name, `parsing time ${JSON.stringify(s)}: time zone offset out of range`);
  }
  const offset = tz === "Z" ? 0 : (tz[0] === "-" ? -1 : 1) * (Number(tz.slice(1, 3)) * 3600 + Number(tz.slice(4, 6)) * 60);
  const unix = unixSecondsFromCivil({ year, month, day, hour, minute, second }) - offset;
  return safeNs(name, BigInt(unix) * NS_PER_SECOND + fraction);
}

const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n, us: 1_000n, "µs": 1_000n, "μs": 1_000n, ms: 1_000_000n, s: NS_PER_SECOND, m: 60n * NS_PER_SECOND, h: 3600n * NS_PER_SECOND,
};
const HOURS_PER_EXTENDED_UNIT: Readonly<Record<string, number>> = { d: 24, w: 7 * 24, y: 365 * 24 };

const OVERFLOW = 1n << 63n;

/** Go's time.ParseDuration: [-+]? then one or more <decimal><unit> segments; "0" alone is allowed. */
function parseGoDuration(name: string, s: string, original: string): bigint {
  const invalid = () => builtinError(name, `time: invalid duration ${JSON.stringify(original)}`);
  let rest = s;
  let negative = false;
  if (rest[0] === "-" || rest[0] === "+") {
    negative = rest[0] === "-";
    rest = rest.slice(1);
  }
  if (rest === "0") return 0n;
  if (rest === "") throw invalid();
  let total = 0n;
  while (rest !== "") {
    const m = /^(\d*)(?:\.(\d*))?([^\d.]*)/.exec(rest) as RegExpExecArray;
    const [whole, intDigits, fracDigits, unitText] = m as unknown as [string, string, string | undefined, string];
    if (intDigits === "" && (fracDigits ?? "") === "") throw invalid();
    if (unitText === "") throw builtinError(name, `time: missing unit in duration ${JSON.stringify(original)}`);
    const unit = DURATION_UNITS[unitText];
    if (unit === undefined) throw builtinError(name, `time: unknown unit ${JSON.stringify(unitText)} in duration ${JSON.stringify(original)}`);
    let v = BigInt(intDigits || "0");
    if (v > OVERFLOW / unit) throw invalid();
    v *= unit;
    if (fracDigits) {
      // Go accumulates at most ~18 fraction digits and scales in float64.
      let f = 0n;
      let scale = 1;
      for (const digit of fracDigits) {
        if (f > (OVERFLOW - 1n) / 10n) break;
        f = f * 10n + BigInt(digit);
        scale *= 10;
      }
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > OVERFLOW) throw invalid();
    }
    total += v;
    if (total > OVERFLOW) throw invalid();
    rest = rest.slice(whole.length);
  }
  if (negative) return -total;
  if (total > OVERFLOW - 1n) throw invalid();
  return total;
}

/** OPA's time.parse_duration_ns: Go durations plus d, w and y, rewritten to hours first. */
export function parseDurationNs(name: string, s: string): bigint {
  if (s === "") throw builtinError(name, `time: invalid duration ""`);
  if (!/[dwy]/.test(s)) return parseGoDuration(name, s, s);
  const m = /^([-+]?)((?:[0-9.]+(?:ms|us|µs|ns|[a-z]))+)$/.exec(s);
  if (!m) throw builtinError(name, `time: invalid duration ${JSON.stringify(s)}`);
  const rewritten = (m[2] as string).replace(/([0-9.]+)(ms|us|µs|ns|[a-z])/g, (whole, digits: string, unit: string) => {
    const hours = HOURS_PER_EXTENDED_UNIT[unit];
    if (hours === undefined) return whole;
    const value = Number(digits);
    if (!/^\d*\.?\d*$/.test(digits) || Number.isNaN(value)) throw builtinError(name, `time: invalid duration ${JSON.stringify(s)}`);
    return `${value * hours}h`;
  });
  return parseGoDuration(name, `${m[1]}${rewritten}`, s);
}

function addDate(t: ZonedTime, years: number, months: number, days: number): bigint {
  const name = "time.add_date";
  const { wall, subsecond } = wallClock(t);
  const moved = { ...wall, year: wall.year + years, month: wall.month + months, day: wall.day + days };
  const monthIndex = moved.year * 12 + (moved.month - 1);
  const normalised = { ...moved, year: Math.floor(monthIndex / 12), month: (monthIndex % 12 + 12) % 12 + 1 };
  return safeNs(name, BigInt(unixSecondsFromWall(normalised, t.zone)) * NS_PER_SECOND + subsecond);
}

/** OPA's time.diff: calendar difference [y, m, d, h, min, s] read in the first argument's zone. */
function diff(a: ZonedTime, b: ZonedTime): number[] {
  let [t1, t2] = [a, { ns: b.ns, zone: a.zone }];
  if (t1.ns > t2.ns) [t1, t2] = [t2, t1];
  const w1 = wallClock(t1).wall;
  const w2 = wallClock(t2).wall;
  let year = w2.year - w1.year;
  let month = w2.month - w1.month;
  let day = w2.day - w1.day;
  let hour = w2.hour - w1.hour;
  let min = w2.minute - w1.minute;
  let sec = w2.second - w1.second;
  if (sec < 0) { sec += 60; min--; }
  if (min < 0) { min += 60; hour--; }
  if (hour < 0) { hour += 24; day--; }
  if (day < 0) { day += daysIn(w1.year, w1.month); month--; }
  if (month < 0) { month += 12; year--; }
  return [year, month, day, hour, min, sec];
}

export function timeBuiltins(nowNs: () => bigint): Record<string, BuiltinImpl> {
  return {
    "time.now_ns": () => nowNs(),
    "time.parse_rfc3339_ns": (s) => parseRfc3339Ns("time.parse_rfc3339_ns", stringOperand("time.parse_rfc3339_ns", s, 1)),
    "time.parse_duration_ns": (s) => parseDurationNs("time.parse_duration_ns", stringOperand("time.parse_duration_ns", s, 1)),
    "time.date": (x) => {
      const { wall } = wallClock(zonedTime("time.date", x));
      return [wall.year, wall.month, wall.day];
    },
    "time.clock": (x) => {
      const { wall } = wallClock(zonedTime("time.clock", x));
      return [wall.hour, wall.minute, wall.second];
    },
    "time.weekday": (x) => {
      const { wall } = wallClock(zonedTime("time.weekday", x));
      const days = Math.floor(unixSecondsFromCivil({ ...wall, hour: 0, minute: 0, second: 0 }) / 86400);
      return WEEKDAYS[(((days + 4) % 7) + 7) % 7];
    },
    "time.add_date": (x, years, months, days) =>
      addDate(zonedTime("time.add_date", x), intOperand("time.add_date", years, 2), intOperand("time.add_date", months, 3), intOperand("time.add_date", days, 4)),
    "time.diff": (a, b) => diff(zonedTime("time.diff", a), zonedTime("time.diff", b)),
  };
}
