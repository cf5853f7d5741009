import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CheckRequest, CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { RESERVATION_METADATA_KEY } from "../../src/limits/reservation.js";
import { startTestApp } from "../support/app.js";
import { runCli } from "../support/cli.js";

const FIXTURES = "test/fixtures/envoy";
const checks = readdirSync(FIXTURES).filter((f) => f.startsWith("check-") && f.endsWith(".json"));

/**
 * The answer without what differs per call by design: the decision id, seconds to a window's reset
 * (wall clock), and the reservation handle's bytes (it carries the decision id and a time, signed
 * with a per-process key); that a handle is there must still match.
 */
function comparable(json: unknown): unknown {
  const res = structuredClone(json) as { dynamicMetadata?: Record<string, unknown> };
  delete res.dynamicMetadata?.["decision_id"];
  if (res.dynamicMetadata?.[RESERVATION_METADATA_KEY] !== undefined) res.dynamicMetadata[RESERVATION_METADATA_KEY] = "<reservation>";
  return JSON.parse(
    JSON.stringify(res)
      .replace(/"reset_seconds":\d+/g, '"reset_seconds":"<reset>"')
      .replace(/"key":"ratelimit-reset","value":"\d+"/g, '"key":"ratelimit-reset","value":"<reset>"'),
  );
}

describe("tollgate eval and tollgate serve build one pipeline", () => {
  it("there are Envoy fixtures to compare", () => {
    expect(checks.length).toBeGreaterThanOrEqual(5);
  });

  // Each fixture goes to a fresh server so that its policy-limit counters start where eval's do.
  it.each(checks)("%s – the same CheckResponse from eval and from a running server", async (file) => {
    const fixture = path.join(FIXTURES, file);
    const evaluated = runCli(["eval", "--input", fixture, "--policies", "policies"]);
    expect(evaluated.status, evaluated.stderr).toBe(0);

    const t = await startTestApp("policies");
    let served: unknown;
    try {
      served = CheckResponse.toJSON(await t.check(CheckRequest.fromJSON(JSON.parse(readFileSync(fixture, "utf8")))));
    } finally {
      await t.close();
    }
    expect(comparable(JSON.parse(evaluated.stdout))).toEqual(comparable(served));
  }, 60_000);
});
