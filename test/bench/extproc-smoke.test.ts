import { describe, expect, it } from "vitest";
import { runExtProcBench } from "../../bench/extproc.js";
import { assertBuilt } from "../support/cli.js";

// The ext_proc rows of `npm run bench`, for a second each: correctness, not speed. The run itself
// refuses to time anything unless tollgate answers a whole 200-chunk response unchanged and writes
// back the tokens it reports, and every timed stream must be answered message for message.
describe("bench smoke: ext_proc rows (tollgate and a no-op server, real gRPC streams)", () => {
  it("both servers carry whole responses, every figure is measured, and the report says what was checked", async () => {
    assertBuilt();
    const lines: string[] = [];
    const { samples, body } = await runExtProcBench({ durationSeconds: 1, warmupSeconds: 1, rounds: 1, concurrency: 4, connections: 2, serverCpu: undefined, loadCpu: undefined, log: (l) => lines.push(l) });
    for (const row of ["extproc-tollgate", "extproc-noop", "usage-reader"]) {
      const s = samples.find((x) => x.row === row && x.round === 1);
      expect(s, row).toBeDefined();
      expect(s!.streams).toBeGreaterThan(0);
      expect(s!.cpuPer1kChunks).toBeGreaterThan(0);
      expect(Number.isFinite(s!.chunksPerSecond)).toBe(true);
    }
    expect(body).toContain("wrote back actual_tokens 250");
    expect(body).toMatch(/\| tollgate ext_proc: .* \| \d+ \| \d+\.\d{4} \|/);
    expect(lines.some((l) => l.startsWith("round 1 extproc-tollgate"))).toBe(true);
  }, 120_000);
});
