import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { warnThrottled } from "../../src/observability/log-throttle.js";
import { createLogger } from "../../src/observability/logger.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ destination }) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe("warnThrottled: one line a second per kind, the next says how many were left out", () => {
  it("400 outage answers in one second write one line; the first line after it counts the 399 left out", async () => {
    const { lines, logger } = capture();
    for (let i = 0; i < 400; i++) warnThrottled(logger, "store_down", { event: "store_down", i }, "down", { now: 10_000 + i });
    warnThrottled(logger, "store_down", { event: "store_down", i: 400 }, "down", { now: 11_000 });
    await flush();
    expect(lines.map((l) => [l["i"], l["suppressed"]])).toEqual([
      [0, undefined],
      [400, 399],
    ]);
    expect(lines[0]).toMatchObject({ level: "warn", msg: "down" });
  });

  it("kinds are throttled apart, and so are loggers", async () => {
    const a = capture();
    const b = capture();
    warnThrottled(a.logger, "allow", { mode: "allow" }, "m", { now: 5 });
    warnThrottled(a.logger, "deny", { mode: "deny" }, "m", { now: 6 });
    warnThrottled(a.logger, "allow", { mode: "allow" }, "m", { now: 7 });
    warnThrottled(b.logger, "allow", { mode: "allow" }, "m", { now: 8 });
    await flush();
    expect(a.lines.map((l) => l["mode"])).toEqual(["allow", "deny"]);
    expect(b.lines.map((l) => l["mode"])).toEqual(["allow"]);
  });
});
