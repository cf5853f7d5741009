import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { loadConfigDir, loadConfigFromSources } from "../../src/ratelimit/config/load.js";
import type { RateLimitConfig } from "../../src/ratelimit/config/types.js";

const FIXTURES = path.join(import.meta.dirname, "../fixtures/ratelimit");

function load(text: string, name = "bad.yaml"): RateLimitConfig {
  return loadConfigFromSources([{ name, text }]);
}

function errorOf(fn: () => unknown): TollgateError {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof TollgateError) return err;
    throw err;
  }
  throw new Error("expected a TollgateError");
}

function ruleAt(config: RateLimitConfig, domain: string, ...composite: string[]) {
  let node = config.domains.get(domain)?.root;
  for (const key of composite) node = node?.children.get(key);
  return node?.limit;
}

describe("loading envoyproxy/ratelimit configs unchanged", () => {
  it("the README examples and the docker example load from one directory; other files are ignored", async () => {
    const config = await loadConfigDir({ dir: path.join(FIXTURES, "readme") });
    expect(config.files).toEqual([
      "01-mongo_cps.yaml",
      "02-messaging.yaml",
      "03-edge_proxy_per_ip.yaml",
      "04-example4.yaml",
      "05-internal.yaml",
      "06-example6.yaml",
      "07-example7.yaml",
      "08-example8.yaml",
      "09-example9.yaml",
      "example.yaml",
    ]);
    expect([...config.domains.keys()].sort()).toEqual(
      ["edge_proxy_per_ip", "example4", "example6", "example7", "example8", "example9", "internal", "messaging", "mongo_cps", "rl"].sort(),
    );
    expect(config.warnings).toEqual([]);
    expect(ruleAt(config, "messaging", "message_type_marketing", "to_number")).toMatchObject({
      requestsPerUnit: 5,
      unit: "DAY",
      fullKey: "messaging.message_type_marketing.to_number",
    });
    expect(ruleAt(config, "edge_proxy_per_ip", "remote_address_50.0.0.5")).toMatchObject({ requestsPerUnit: 0, unit: "SECOND" });
    expect(ruleAt(config, "internal", "ldap")).toMatchObject({ unlimited: true, unit: undefined, requestsPerUnit: 0 });
    expect(ruleAt(config, "example6", "service", "user_user-a")).toMatchObject({ shadowMode: true, requestsPerUnit: 10 });
    expect(ruleAt(config, "example7", "key_2_value_2", "user_bkthomps")).toMatchObject({ replaces: ["specific_limit"], name: "" });
    expect(ruleAt(config, "example7", "key_1_value_1", "user_bkthomps")).toMatchObject({ name: "specific_limit" });
    expect(ruleAt(config, "example8", "key1")).toMatchObject({ detailedMetric: true });
    expect(config.domains.get("example9")?.root.wildcards).toEqual([{ compositeKey: "key1_value*", parts: ["key1_value", ""] }]);
    expect(ruleAt(config, "rl", "foo", "baz_shady")).toMatchObject({ shadowMode: true, unit: "MINUTE", requestsPerUnit: 1 });
  });

  it("rules carry ratelimit's defaults: fixed_window, failure_mode allow, no name, no replaces", async () => {
    const config = await loadConfigDir({ dir: path.join(FIXTURES, "basic") });
    expect(ruleAt(config, "test-domain", "key2_value2")).toEqual({
      requestsPerUnit: 30,
      unit: "MINUTE",
      unlimited: false,
      name: "",
      replaces: [],
      shadowMode: false,
      quotaMode: false,
      detailedMetric: false,
      algorithm: "fixed_window",
      failureMode: "allow",
      fullKey: "test-domain.key2_value2",
      source: "basic_config.yaml descriptors[2]",
    });
    expect(ruleAt(config, "test-domain", "key2_value3")).toBeUndefined();
    expect(config.domains.get("test-domain")?.root.children.get("key2_value3")?.children.size).toBe(0);
  });

  it("tollgate extensions: algorithm and failure_mode on the domain are defaults, rate_limit blocks override them", async () => {
    const config = await loadConfigDir({ dir: path.join(FIXTURES, "extensions") });
    const domain = config.domains.get("llm");
    expect(domain).toMatchObject({ algorithm: "sliding_window", failureMode: "deny" });
    expect(ruleAt(config, "llm", "api_key")).toMatchObject({ algorithm: "sliding_window", failureMode: "deny" });
    expect(ruleAt(config, "llm", "tokens")).toMatchObject({ algorithm: "token_bucket", failureMode: "allow", requestsPerUnit: 100000 });
    expect(ruleAt(config, "llm", "org")).toMatchObject({ algorithm: "fixed_window", failureMode: "deny", unit: "DAY" });
  });

  it.each([
    ["second", "SECOND"],
    ["Minute", "MINUTE"],
    ["HOUR", "HOUR"],
    ["day", "DAY"],
    ["wEeK", "WEEK"],
    ["month", "MONTH"],
    ["year", "YEAR"],
  ])("unit %s is read case-insensitively as %s", (written, unit) => {
    const config = load(`domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: ${written}, requests_per_unit: 1}\n`);
    expect(ruleAt(config, "d", "k")?.unit).toBe(unit);
  });

  it("scalar values keep their text as yaml.v2 reads them into strings (010, 500, true, 10.0.0.1)", () => {
    const config = load(
      [
        "domain: 42",
        "descriptors:",
        "  - {key: a, value: 010}",
        "  - {key: b, value: 500}",
        "  - {key: c, value: true}",
        "  - {key: d, value: 10.0.0.1}",
        "  - {key: e, value: '0x1F'}",
        "  - {key: f, value: ~}",
      ].join("\n"),
    );
    expect([...(config.domains.get("42")?.root.children.keys() ?? [])]).toEqual(["a_010", "b_500", "c_true", "d_10.0.0.1", "e_0x1F", "f"]);
  });

  it("unlimited with a unit that is not a real unit loads, as in ratelimit (only a valid unit is rejected)", () => {
    const config = load("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unlimited: true, unit: whenever}\n");
    expect(ruleAt(config, "d", "k")).toMatchObject({ unlimited: true, unit: undefined });
  });

  it("replaces naming no existing limit loads (ratelimit does not check) and is reported as a warning", () => {
    const config = load("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: second\n      requests_per_unit: 1\n      replaces: [{name: ghost}]\n");
    expect(config.warnings).toEqual(["bad.yaml descriptors[0]: replaces 'ghost', but no rate_limit in domain 'd' has that name"]);
  });

  it("rate_limit: null, descriptors: null and an empty replaces list count as absent", () => {
    const config = load("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n    descriptors:\n  - key: j\n    rate_limit: {unit: second, requests_per_unit: 2, replaces: []}\n");
    expect(ruleAt(config, "d", "k")).toBeUndefined();
    expect(ruleAt(config, "d", "j")?.replaces).toEqual([]);
  });

  it("with mergeDomains several files add to one domain, and duplicates across them are still rejected", () => {
    const a = { name: "a.yaml", text: "domain: shared\ndescriptors:\n  - key: k1\n    rate_limit: {unit: second, requests_per_unit: 1}\n" };
    const b = { name: "b.yaml", text: "domain: shared\ndescriptors:\n  - key: k2\n    rate_limit: {unit: second, requests_per_unit: 2}\n" };
    const merged = loadConfigFromSources([a, b], { mergeDomains: true });
    expect([...(merged.domains.get("shared")?.root.children.keys() ?? [])]).toEqual(["k1", "k2"]);
    expect(merged.domains.get("shared")?.files).toEqual(["a.yaml", "b.yaml"]);
    expect(errorOf(() => loadConfigFromSources([a, a], { mergeDomains: true })).message).toBe(
      "a.yaml: duplicate descriptor composite key 'shared.k1' at descriptors[0] (line 3)",
    );
  });
});

describe("loading a directory", () => {
  const tmp = mkdtempSync(path.join(tmpdir(), "tollgate-rl-load-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("a misspelled key in one file fails the whole load, naming that file and path", async () => {
    await expect(loadConfigDir({ dir: path.join(FIXTURES, "invalid/misspelled") })).rejects.toMatchObject({
      code: "config_error",
      message: "typo.yaml: config error, unknown key 'ratelimit' at descriptors[0].descriptors[0].ratelimit (line 6)",
    });
  });

  it("the same domain in two files fails unless merging is asked for", async () => {
    const dir = path.join(FIXTURES, "invalid/duplicate-domain");
    await expect(loadConfigDir({ dir })).rejects.toMatchObject({ message: "b.yaml: duplicate domain 'shared' in config file at domain (line 1)" });
    const merged = await loadConfigDir({ dir, mergeDomains: true });
    expect([...(merged.domains.get("shared")?.root.children.keys() ?? [])]).toEqual(["k1", "k2"]);
  });

  it("a file above maxFileBytes is refused by size before it is parsed", async () => {
    const dir = mkdtempSync(path.join(tmp, "big-"));
    writeFileSync(path.join(dir, "big.yaml"), `domain: d\n# ${"x".repeat(2000)}\n`);
    await expect(loadConfigDir({ dir, maxFileBytes: 1024 })).rejects.toMatchObject({
      code: "config_error",
      message: "big.yaml: file is 2013 bytes, more than the limit of 1024",
    });
    expect((await loadConfigDir({ dir, maxFileBytes: 4096 })).domains.has("d")).toBe(true);
  });

  it("more files than maxFiles is refused", async () => {
    const dir = mkdtempSync(path.join(tmp, "many-"));
    for (let i = 0; i < 3; i++) writeFileSync(path.join(dir, `f${i}.yaml`), `domain: d${i}\n`);
    await expect(loadConfigDir({ dir, maxFiles: 2 })).rejects.toMatchObject({ message: expect.stringMatching(/holds 3 files, more than the limit of 2$/) });
  });

  it("hidden files, other extensions and subdirectories are skipped; .yml counts", async () => {
    const dir = mkdtempSync(path.join(tmp, "mixed-"));
    writeFileSync(path.join(dir, ".hidden.yaml"), "not: [valid");
    writeFileSync(path.join(dir, "readme.md"), "# notes");
    writeFileSync(path.join(dir, "a.yml"), "domain: from-yml\n");
    const config = await loadConfigDir({ dir });
    expect(config.files).toEqual(["a.yml"]);
  });

  it("an empty directory gives a config with no domains; a missing one is an error", async () => {
    const dir = mkdtempSync(path.join(tmp, "empty-"));
    expect((await loadConfigDir({ dir })).domains.size).toBe(0);
    await expect(loadConfigDir({ dir: path.join(tmp, "nope") })).rejects.toMatchObject({
      code: "config_error",
      message: expect.stringMatching(/^cannot read rate limit config directory .*nope: ENOENT/),
    });
  });
});
