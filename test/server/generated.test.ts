import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

function files(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))]));
}

describe("generated protocol code", () => {
  it("src/gen matches a fresh generation from @grpc/grpc-js-xds's Envoy protos (run npm run gen:proto if this fails)", () => {
    const out = mkdtempSync(path.join(os.tmpdir(), "tollgate-gen-"));
    execFileSync("node", ["scripts/gen-proto.mjs", "--out", out], { stdio: "pipe" });
    const fresh = path.join(out, "src", "gen");
    const committed = "src/gen";
    expect(files(fresh).sort()).toEqual(files(committed).sort());
    for (const f of files(fresh)) expect(readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(committed, f))), f).toBe(true);
  }, 60_000);
});
