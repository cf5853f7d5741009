import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { findOpa } from "../../src/policy/opa-cli.js";

describe("shipped Rego", () => {
  it("is formatted as `opa fmt` writes it, so an operator's `opa fmt -w` changes nothing they did not write", () => {
    const unformatted = execFileSync(findOpa(), ["fmt", "-l", "policies", "examples"], { encoding: "utf8" }).trim();
    expect(unformatted, "run: node scripts/opa.mjs fmt -w <file>").toBe("");
  });
});
