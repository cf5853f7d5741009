import { describe, expect, it } from "vitest";
import { guardPatterns } from "../../src/observability/mask.js";

const revision = (patterns: Record<string, string>, extra: Record<string, string> = {}) => ({
  gateway: {
    guard: {
      patterns: Object.entries(patterns).map(([name, pattern]) => ({ name, pattern })),
      extra_patterns: Object.entries(extra).map(([name, pattern]) => ({ name, pattern })),
    },
  },
});

describe("prompt-guard patterns across policy revisions", () => {
  it("a revision whose guard is unchanged reuses the patterns the one before it compiled", () => {
    const first = guardPatterns(revision({ aws: "AKIA[0-9A-Z]{16}", openai: "sk-[A-Za-z0-9]{20,}" }))!;
    // Another revision: a new data object with the same patterns (an edit elsewhere in the policy).
    const second = guardPatterns(revision({ aws: "AKIA[0-9A-Z]{16}", openai: "sk-[A-Za-z0-9]{20,}" }))!;
    expect(second.map((p) => p.name)).toEqual(["aws", "openai"]);
    expect(second[0]!.pattern).toBe(first[0]!.pattern);
    expect(second[1]!.pattern).toBe(first[1]!.pattern);
  });

  it("a changed pattern is compiled anew and matches what it now says; the unchanged ones are reused", () => {
    const before = guardPatterns(revision({ aws: "AKIA[0-9A-Z]{16}", token: "ghp_[A-Za-z0-9]{36}" }))!;
    const after = guardPatterns(revision({ aws: "AKIA[0-9A-Z]{16}", token: "xox[abp]-[0-9A-Za-z-]{10,}" }))!;
    expect(after[0]!.pattern).toBe(before[0]!.pattern);
    expect(after[1]!.pattern).not.toBe(before[1]!.pattern);
    expect(after[1]!.pattern.matches("xoxb-1234567890-abcdef")).toBe(true);
    expect(after[1]!.pattern.matcher("ghp_abcdefghijklmnopqrstuvwxyz0123456789").find()).toBe(false);
  });

  it("the same pattern under two names, or in both lists, is one compiled pattern serving both names", () => {
    const patterns = guardPatterns(revision({ a: "secret-[0-9]+" }, { b: "secret-[0-9]+" }))!;
    expect(patterns.map((p) => p.name)).toEqual(["a", "b"]);
    expect(patterns[1]!.pattern).toBe(patterns[0]!.pattern);
  });

  it("a pattern RE2 cannot compile still makes the whole guard null, reused or not", () => {
    guardPatterns(revision({ ok: "abc" }));
    expect(guardPatterns(revision({ ok: "abc", bad: "(a)\\1" }))).toBeNull();
  });
});
