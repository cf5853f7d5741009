import { RateLimitResponse_RateLimit_Unit } from "../gen/envoy/service/ratelimit/v3/rls.js";
import supplement from "../gen/envoy-supplement.json" with { type: "json" };

/** Time units of envoyproxy/ratelimit. MONTH is 30 days and YEAR 365 days, as there. */
export type UnitName = "SECOND" | "MINUTE" | "HOUR" | "DAY" | "WEEK" | "MONTH" | "YEAR";

const DAY = 86_400;

export const UNIT_SECONDS: Readonly<Record<UnitName, number>> = {
  SECOND: 1,
  MINUTE: 60,
  HOUR: 3_600,
  DAY,
  WEEK: 7 * DAY,
  MONTH: 30 * DAY,
  YEAR: 365 * DAY,
};

/**
 * Wire numbers of RateLimitResponse.RateLimit.Unit (shared by envoy.type.v3.RateLimitUnit). WEEK
 * is newer than the protos src/gen was built from, so the numbers come from the generated
 * supplement read out of go-control-plane (scripts/envoy-supplement).
 */
const UNIT_NUMBERS: Readonly<Record<UnitName, number>> = Object.fromEntries(
  (Object.keys(UNIT_SECONDS) as UnitName[]).map((name) => {
    const n = supplement.rateLimitResponseUnits[name];
    if (n === undefined) throw new Error(`src/gen/envoy-supplement.json has no unit ${name}`);
    return [name, n];
  }),
) as Record<UnitName, number>;

const BY_NUMBER = new Map<number, UnitName>(
  (Object.entries(UNIT_NUMBERS) as [UnitName, number][]).map(([name, n]) => [n, name]),
);

/** Case-insensitive, like ratelimit's strings.ToUpper lookup. UNKNOWN and anything else give undefined. */
export function parseUnitName(raw: string): UnitName | undefined {
  const upper = raw.toUpperCase();
  return Object.hasOwn(UNIT_SECONDS, upper) ? (upper as UnitName) : undefined;
}

export function unitToProto(unit: UnitName): RateLimitResponse_RateLimit_Unit {
  return UNIT_NUMBERS[unit] as RateLimitResponse_RateLimit_Unit;
}

/** Maps a request-side RateLimitUnit (from a descriptor's limit override); UNKNOWN or unrecognized give undefined. */
export function unitFromProto(value: number): UnitName | undefined {
  return BY_NUMBER.get(value);
}
