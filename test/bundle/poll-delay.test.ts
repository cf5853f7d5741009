import { describe, expect, it } from "vitest";
import { pollDelayMs, retryDelayMs, sleep } from "../../src/bundle/poll-delay.js";

describe("delays between bundle downloads (OPA's downloader)", () => {
  it.each([
    [0, 10_000, 0.5, 0],
    [1, 10_000, 0.5, 160],
    [2, 10_000, 0.5, 256],
    [3, 10_000, 0.5, 409.6],
    [50, 10_000, 0.5, 10_000],
    [1, 10_000, 0, 128],
    [1, 10_000, 1, 192],
    [50, 10_000, 0, 8000],
    [2, 150, 0.5, 150],
  ])("retry %i with max %i ms and random %f → %f ms", (retries, max, random, expected) => {
    expect(retryDelayMs(retries, max, () => random)).toBeCloseTo(expected, 6);
  });

  it.each([
    [100, 200, 0, 100],
    [100, 200, 0.25, 125],
    [100, 200, 0.999, 199.9],
    [500, 500, 0.7, 500],
  ])("regular polling between %i and %i ms with random %f → %f ms", (min, max, random, expected) => {
    expect(pollDelayMs(min, max, () => random)).toBeCloseTo(expected, 6);
  });

  it("sleep ends early when its signal aborts", async () => {
    const controller = new AbortController();
    const t = Date.now();
    setTimeout(() => controller.abort(), 20);
    await sleep(10_000, controller.signal);
    expect(Date.now() - t).toBeLessThan(1000);
  });
});
