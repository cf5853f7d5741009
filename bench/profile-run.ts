import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TollgateError } from "../src/errors.js";
import { profileMarkdown, summariseProfile, loadProfile } from "./cpuprofile.js";
import { startFleet } from "./fleet.js";
import { measureRow } from "./measure.js";
import type { BenchOptions, RowId } from "./options.js";
import { writeSection } from "./report.js";
import type { ToolName } from "./tools.js";

/**
 * `--profile`: tollgate under Check load, then (in a fresh process) under ShouldRateLimit load,
 * each with node --cpu-prof; the profiles land in bench/results/ and are summarised by self time.
 */
export async function runProfile(o: BenchOptions, tools: Record<ToolName, string>, log: (s: string) => void): Promise<void> {
  const sections: string[] = [];
  mkdirSync(o.resultsDir, { recursive: true });
  for (const id of ["tollgate-check", "tollgate-rls"] as RowId[]) {
    const profDir = mkdtempSync(path.join(os.tmpdir(), "tollgate-prof-"));
    const fleet = await startFleet({ ...o, rows: [id], tools, tmpRoot: os.tmpdir(), log, cpuProfDir: profDir });
    let rps = 0;
    let failed = true;
    try {
      const row = fleet.rows[0]!;
      log(`profiling ${id}: ${o.durationSeconds} s of load`);
      const { sample } = await measureRow({ o, fleet, row, ghz: tools.ghz, round: 1 });
      rps = sample.rps;
      failed = false;
    } finally {
      await fleet.stop(failed);
    }
    // The newest: `serve` re-executes itself (src/cli/v8-pool.ts), and Node writes a profile of the few ms before that too.
    const file = readdirSync(profDir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .sort((a, b) => statSync(path.join(profDir, a)).mtimeMs - statSync(path.join(profDir, b)).mtimeMs)
      .at(-1);
    if (!file) throw new TollgateError("internal_error", `node wrote no .cpuprofile into ${profDir}`);
    const kept = path.join(o.resultsDir, `${id}.cpuprofile`);
    renameSync(path.join(profDir, file), kept);
    rmSync(profDir, { recursive: true, force: true });
    log(`profile: ${kept}`);
    const md = profileMarkdown(`${id} (${rps.toFixed(0)} rps under the profiler)`, summariseProfile(loadProfile(kept)));
    process.stdout.write(`\n${md}\n`);
    sections.push(md);
  }
  const body = [`Profiled ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC with \`npm run bench -- --profile\` (${o.durationSeconds} s of load per profile; process start-up is included but small).`, ...sections].join("\n\n");
  if (o.write) writeSection(o.doc, "profile", body);
}
