import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { loadConfigDir, loadConfigFromSources } from "../../src/ratelimit/config/load.js";
import type { RateLimitConfig } from "../../src/ratelimit/config/types.js";
import { MatchCache, matchLimit, wildcardMatch, type MatchedLimit } from "../../src/ratelimit/matcher.js";

const FIXTURES = path.join(import.meta.dirname, "../fixtures/ratelimit");

type Entries = [key: string, value: string][];

function match(config: RateLimitConfig, domain: string, entries: Entries, limit?: { requestsPerUnit: number; unit: number }): MatchedLimit | undefined {
  return matchLimit({ config, domain, descriptor: { entries: entries.map(([key, value]) => ({ key, value })), limit } });
}

let basic: RateLimitConfig;
let share: RateLimitConfig;
let readme: RateLimitConfig;

beforeAll(async () => {
  basic = await loadConfigDir({ dir: path.join(FIXTURES, "basic") });
  share = await loadConfigDir({ dir: path.join(FIXTURES, "share-threshold") });
  readme = await loadConfigDir({ dir: path.join(FIXTURES, "readme") });
});

describe("matching as envoyproxy/ratelimit's GetLimit (basic_config)", () => {
  const cases: [title: string, entries: Entries, expected: { requestsPerUnit: number; unit: string; statsKey: string; counterKey: string } | undefined][] = [
    ["a key whose value is not configured and that has no bare-key default", [["key1", "something"]], undefined],
    ["a key/value that only holds children has no limit of its own", [["key1", "value1"]], undefined],
    [
      "second level bare key default",
      [["key1", "value1"], ["subkey1", "something"]],
      { requestsPerUnit: 5, unit: "SECOND", statsKey: "test-domain.key1_value1.subkey1", counterKey: "test-domain_key1_value1_subkey1_something_" },
    ],
    [
      "second level key/value beats the bare key",
      [["key1", "value1"], ["subkey1", "subvalue1"]],
      { requestsPerUnit: 10, unit: "SECOND", statsKey: "test-domain.key1_value1.subkey1_subvalue1", counterKey: "test-domain_key1_value1_subkey1_subvalue1_" },
    ],
    ["top level bare key", [["key2", "something"]], { requestsPerUnit: 20, unit: "MINUTE", statsKey: "test-domain.key2", counterKey: "test-domain_key2_something_" }],
    ["top level key/value", [["key2", "value2"]], { requestsPerUnit: 30, unit: "MINUTE", statsKey: "test-domain.key2_value2", counterKey: "test-domain_key2_value2_" }],
    ["a key/value without limit does not fall back to the bare key (allow-listed)", [["key2", "value3"]], undefined],
    ["a limit at depth 1 does not apply to a two-entry request", [["key2", "value2"], ["subkey", "subvalue"]], undefined],
    ["no bare-key default at the second level", [["key5", "value5"], ["subkey5", "subvalue"]], undefined],
    ["hour unit", [["key3", "foo"]], { requestsPerUnit: 1, unit: "HOUR", statsKey: "test-domain.key3", counterKey: "test-domain_key3_foo_" }],
    ["day unit", [["key4", "foo"]], { requestsPerUnit: 1, unit: "DAY", statsKey: "test-domain.key4", counterKey: "test-domain_key4_foo_" }],
    ["a limit that also has children, at its own depth", [["key5", "value5"]], { requestsPerUnit: 15, unit: "DAY", statsKey: "test-domain.key5_value5", counterKey: "test-domain_key5_value5_" }],
    [
      "the child of a limited descriptor",
      [["key5", "value5"], ["subkey5", "subvalue5"]],
      { requestsPerUnit: 25, unit: "DAY", statsKey: "test-domain.key5_value5.subkey5_subvalue5", counterKey: "test-domain_key5_value5_subkey5_subvalue5_" },
    ],
    ["a request deeper than the config", [["key5", "value5"], ["subkey5", "subvalue5"], ["extra", "x"]], undefined],
    [
      "detailed_metric puts the value into the stats key, not into the limit",
      [["key7", "unspecified_value"]],
      { requestsPerUnit: 70, unit: "MINUTE", statsKey: "test-domain.key7_unspecified_value", counterKey: "test-domain_key7_unspecified_value_" },
    ],
  ];

  it.each(cases)("%s", (_title, entries, expected) => {
    const got = match(basic, "test-domain", entries);
    if (expected === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject({ ...expected, fromOverride: false, unlimited: false, shadowMode: false });
  });

  it("unknown domain – no limit, even with a limit override", () => {
    expect(match(basic, "other-domain", [["key2", "value2"]])).toBeUndefined();
    expect(match(basic, "other-domain", [["key2", "value2"]], { requestsPerUnit: 1, unit: 1 })).toBeUndefined();
  });

  it("unlimited descriptors match with unlimited set and no unit", () => {
    expect(match(basic, "test-domain", [["key6", "anything"]])).toMatchObject({ unlimited: true, unit: undefined, requestsPerUnit: 0 });
  });

  it("an empty request value is looked up as 'key_' and then falls back to the bare key", () => {
    expect(match(basic, "test-domain", [["key2", ""]])).toMatchObject({ requestsPerUnit: 20, counterKey: "test-domain_key2__" });
  });
});

describe("limit overrides from the request", () => {
  it("the override wins over the config, with no name, no shadow mode and ratelimit's key", () => {
    const got = match(basic, "test-domain", [["key1", "value1"], ["subkey1", "something"]], { requestsPerUnit: 42, unit: 3 });
    expect(got).toEqual({
      requestsPerUnit: 42,
      unit: "HOUR",
      unlimited: false,
      name: "",
      replaces: [],
      shadowMode: false,
      quotaMode: false,
      algorithm: "fixed_window",
      failureMode: "allow",
      counterKey: "test-domain_key1_value1_subkey1_something_",
      statsKey: "test-domain.key1_value1.subkey1_something",
      fromOverride: true,
    });
  });

  it("applies in a known domain even when no descriptor in the config matches", () => {
    expect(match(basic, "test-domain", [["nowhere", "x"]], { requestsPerUnit: 7, unit: 1 })).toMatchObject({ requestsPerUnit: 7, unit: "SECOND" });
  });

  it("drops the configured shadow_mode (example 6)", () => {
    const got = match(readme, "example6", [["service", "auth"], ["user", "user-a"]], { requestsPerUnit: 3, unit: 2 });
    expect(got).toMatchObject({ shadowMode: false, requestsPerUnit: 3, unit: "MINUTE" });
    expect(match(readme, "example6", [["service", "auth"], ["user", "user-a"]])).toMatchObject({ shadowMode: true, requestsPerUnit: 10 });
  });

  it.each([
    [1, "SECOND"],
    [4, "DAY"],
    [5, "MONTH"],
    [6, "YEAR"],
    [7, "WEEK"],
  ])("unit number %i is %s", (unit, name) => {
    expect(match(basic, "test-domain", [["key2", "x"]], { requestsPerUnit: 1, unit })?.unit).toBe(name);
  });

  it.each([0, 8, -1])("unit number %i is rejected as a bad request", (unit) => {
    let err: unknown;
    try {
      match(basic, "test-domain", [["key2", "x"]], { requestsPerUnit: 1, unit });
    } catch (e: unknown) {
      err = e;
    }
    expect(err).toBeInstanceOf(TollgateError);
    expect(err).toMatchObject({ code: "request_parse_error", message: `descriptor limit override has unknown unit ${unit}` });
  });

  it("uses the domain's algorithm and failure_mode", async () => {
    const ext = await loadConfigDir({ dir: path.join(FIXTURES, "extensions") });
    expect(match(ext, "llm", [["anything", "x"]], { requestsPerUnit: 9, unit: 2 })).toMatchObject({ algorithm: "sliding_window", failureMode: "deny" });
  });
});

describe("wildcards", () => {
  const cases: [title: string, entries: Entries, expected: { requestsPerUnit: number; counterKey: string; statsKey: string } | undefined][] = [
    ["trailing * matches a value with the prefix", [["wild", "foo1"]], { requestsPerUnit: 20, counterKey: "test-domain_wild_foo1_", statsKey: "test-domain.wild_foo*" }],
    ["trailing * matches an empty rest", [["wild", "foo"]], { requestsPerUnit: 20, counterKey: "test-domain_wild_foo_", statsKey: "test-domain.wild_foo*" }],
    ["trailing * does not match another prefix", [["wild", "bar"]], undefined],
    ["mid-string * (bar*b) matches barab", [["midwild", "barab"]], { requestsPerUnit: 7, counterKey: "test-domain_midwild_barab_", statsKey: "test-domain.midwild_bar*b" }],
    ["mid-string * matches an empty middle (barb)", [["midwild", "barb"]], { requestsPerUnit: 7, counterKey: "test-domain_midwild_barb_", statsKey: "test-domain.midwild_bar*b" }],
    ["mid-string * needs the suffix", [["midwild", "bara"]], undefined],
    ["prefix and suffix may not overlap (bar*b against bar)", [["midwild", "bar"]], undefined],
    [
      "several * match literal parts in order",
      [["multiroute", "svc-a-ep-b-rpc"]],
      { requestsPerUnit: 50, counterKey: "test-domain_multiroute_svc*ep*rpc_", statsKey: "test-domain.multiroute_svc*ep*rpc" },
    ],
    ["several * reject parts out of order", [["multiroute", "svc-rpc-ep-rpc2"]], undefined],
    [
      "share_threshold: every matching value shares one counter",
      [["files", "files/a.pdf"]],
      { requestsPerUnit: 100, counterKey: "test-domain_files_files/*_", statsKey: "test-domain.files_files/*" },
    ],
    [
      "share_threshold with a mid-string *",
      [["midpath", "/api/users/v1"]],
      { requestsPerUnit: 100, counterKey: "test-domain_midpath_/api*v1_", statsKey: "test-domain.midpath_/api*v1" },
    ],
    ["an exact key/value beats a wildcard", [["file", "test1"]], { requestsPerUnit: 50, counterKey: "test-domain_file_test1_", statsKey: "test-domain.file_test1" }],
    ["the wildcard catches the other values", [["file", "test2"]], { requestsPerUnit: 100, counterKey: "test-domain_file_test*_", statsKey: "test-domain.file_test*" }],
    [
      "share_threshold at the second level",
      [["nested", "parent"], ["files", "nested/x.txt"]],
      { requestsPerUnit: 200, counterKey: "test-domain_nested_parent_files_nested/*_", statsKey: "test-domain.nested_parent.files_nested/*" },
    ],
    [
      "share_threshold at both levels",
      [["files", "top/a"], ["files", "nested/b"]],
      { requestsPerUnit: 300, counterKey: "test-domain_files_top/*_files_nested/*_", statsKey: "test-domain.files_top/*.files_nested/*" },
    ],
    [
      "share_threshold on a parent without a limit, limit on a bare-key child",
      [["route", "api/v2/users"], ["method", "GET"]],
      { requestsPerUnit: 60, counterKey: "test-domain_route_api/*_method_GET_", statsKey: "test-domain.route_api/*.method" },
    ],
  ];

  it.each(cases)("%s", (_title, entries, expected) => {
    const got = match(share, "test-domain", entries);
    if (expected === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject(expected);
  });

  it("two values of a plain wildcard get two counters, two values of a shared one get one", () => {
    expect(match(share, "test-domain", [["wild", "foo1"]])?.counterKey).not.toBe(match(share, "test-domain", [["wild", "foo2"]])?.counterKey);
    expect(match(share, "test-domain", [["files", "files/b.csv"]])?.counterKey).toBe(match(share, "test-domain", [["files", "files/c/d.txt"]])?.counterKey);
  });

  it("wildcards are tried in config order, and before the bare key", () => {
    const config = loadConfigFromSources([
      {
        name: "order.yaml",
        text: [
          "domain: d",
          "descriptors:",
          "  - {key: p, rate_limit: {unit: second, requests_per_unit: 1}}",
          "  - {key: p, value: 'a*', rate_limit: {unit: second, requests_per_unit: 2}}",
          "  - {key: p, value: 'ab*', rate_limit: {unit: second, requests_per_unit: 3}}",
          "  - {key: p, value: '*z', rate_limit: {unit: second, requests_per_unit: 4}}",
        ].join("\n"),
      },
    ]);
    expect(match(config, "d", [["p", "abc"]])?.requestsPerUnit).toBe(2);
    expect(match(config, "d", [["p", "xyz"]])?.requestsPerUnit).toBe(4);
    expect(match(config, "d", [["p", "azz"]])?.requestsPerUnit).toBe(2);
    expect(match(config, "d", [["p", "qqq"]])?.requestsPerUnit).toBe(1);
    // A request value that is literally the pattern is an exact match.
    expect(match(config, "d", [["p", "ab*"]])?.requestsPerUnit).toBe(3);
  });

  it.each([
    [["a", ""], "a", true],
    [["a", ""], "b", false],
    [["", "z"], "xyz", true],
    [["a", "b", "c"], "abc", true],
    [["a", "b", "c"], "axxbyyc", true],
    [["a", "b", "c"], "acb", false],
    [["ab", "ba"], "aba", false],
    [["ab", "ba"], "abba", true],
    [["x"], "x", true],
    [["x"], "xx", false],
  ] as const)("wildcardMatch(%j, %s) is %s", (parts, value, expected) => {
    expect(wildcardMatch(parts, value)).toBe(expected);
  });
});

describe("README examples", () => {
  it.each([
    ["example 1: database users", "mongo_cps", [["database", "users"]], 500],
    ["example 2: marketing to a number", "messaging", [["message_type", "marketing"], ["to_number", "2061111111"]], 5],
    ["example 2: any message to a number", "messaging", [["to_number", "2061111111"]], 100],
    ["example 3: any address", "edge_proxy_per_ip", [["remote_address", "50.0.0.1"]], 10],
    ["example 3: blocked address", "edge_proxy_per_ip", [["remote_address", "50.0.0.5"]], 0],
    ["example 4: two-entry request at depth 2", "example4", [["key", "value"], ["subkey", "subvalue"]], 300],
    ["example 5: azure", "internal", [["azure", "x"]], 100],
    ["example 9: wildcard", "example9", [["key1", "value_2"]], 20],
  ] as [string, string, Entries, number][])("%s", (_title, domain, entries, rpu) => {
    expect(match(readme, domain, entries)?.requestsPerUnit).toBe(rpu);
  });

  it("example 4: a one-entry request does not match the depth-2 limit", () => {
    expect(match(readme, "example4", [["key", "value"]])).toBeUndefined();
  });
});

describe("MatchCache", () => {
  const descriptor = (entries: Entries, limit?: { requestsPerUnit: number; unit: number }) => ({ entries: entries.map(([key, value]) => ({ key, value })), limit });

  it("answers as matchLimit, for matches and for misses, whatever the order of calls", () => {
    const cache = new MatchCache();
    const cases: Entries[] = [[["key1", "value1"], ["subkey1", "x"]], [["key2", "something"]], [["nope", "x"]], [["key2", "value2"]], [["key1", "value1"], ["subkey1", "subvalue1"]]];
    for (let round = 0; round < 2; round++) {
      for (const entries of cases) expect(cache.match({ config: basic, domain: "test-domain", descriptor: descriptor(entries) })).toEqual(match(basic, "test-domain", entries));
    }
  });

  it("keeps descriptors apart that a plain join would confuse", () => {
    // Both descriptors are "d_a_x_c_y_" as one joined string (and as ratelimit's cache key).
    const config = loadConfigFromSources([{ name: "c.yaml", text: "domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: minute, requests_per_unit: 1}\n    descriptors:\n      - key: c\n        rate_limit: {unit: minute, requests_per_unit: 2}\n" }]);
    const cache = new MatchCache();
    expect(cache.match({ config, domain: "d", descriptor: descriptor([["a", "x_c_y"]]) })?.requestsPerUnit).toBe(1);
    expect(cache.match({ config, domain: "d", descriptor: descriptor([["a", "x"], ["c", "y"]]) })?.requestsPerUnit).toBe(2);
    expect(cache.match({ config, domain: "d", descriptor: descriptor([["a", "x_c_y"]]) })?.requestsPerUnit).toBe(1);
  });

  it("starts over for a new config, never serving a match of the old one", () => {
    const cache = new MatchCache();
    const one = loadConfigFromSources([{ name: "c.yaml", text: "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 1}\n" }]);
    const two = loadConfigFromSources([{ name: "c.yaml", text: "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 2}\n" }]);
    expect(cache.match({ config: one, domain: "d", descriptor: descriptor([["k", "v"]]) })?.requestsPerUnit).toBe(1);
    expect(cache.match({ config: two, domain: "d", descriptor: descriptor([["k", "v"]]) })?.requestsPerUnit).toBe(2);
  });

  it("does not remember limit overrides, and stays within its bound", () => {
    const cache = new MatchCache(2);
    const override = (n: number) => cache.match({ config: basic, domain: "test-domain", descriptor: descriptor([["key2", "x"]], { requestsPerUnit: n, unit: 2 }) });
    expect(override(7)?.requestsPerUnit).toBe(7);
    expect(override(8)?.requestsPerUnit).toBe(8);
    for (const v of ["a", "b", "c", "d"]) expect(cache.match({ config: basic, domain: "test-domain", descriptor: descriptor([["key2", v]]) })?.counterKey).toBe(`test-domain_key2_${v}_`);
    expect((cache as unknown as { matches: Map<string, unknown> }).matches.size).toBeLessThanOrEqual(2);
  });
});
