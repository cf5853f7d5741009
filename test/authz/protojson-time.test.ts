import { describe, expect, it } from "vitest";
import { timestampToJson } from "../../src/authz/protojson.js";

describe("timestampToJson (RFC 3339 as Go's protojson writes it)", () => {
  it("formats alternating seconds right although the last second's text is reused", () => {
    const cases: [seconds: number, nanos: number, expected: string][] = [
      [1_700_000_000, 0, "2023-11-14T22:13:20Z"],
      [1_700_000_000, 5_000_000, "2023-11-14T22:13:20.005Z"],
      [1_700_000_001, 120_000, "2023-11-14T22:13:21.000120Z"],
      [1_700_000_000, 7, "2023-11-14T22:13:20.000000007Z"],
      [0, 0, "1970-01-01T00:00:00Z"],
      [1_700_000_001, 0, "2023-11-14T22:13:21Z"],
    ];
    for (const [seconds, nanos, expected] of cases) expect(timestampToJson({ seconds, nanos })).toBe(expected);
  });

  it("still refuses a time out of range, every time", () => {
    expect(() => timestampToJson({ seconds: 9e15, nanos: 0 })).toThrow(RangeError);
    expect(() => timestampToJson({ seconds: 9e15, nanos: 0 })).toThrow(RangeError);
  });
});
