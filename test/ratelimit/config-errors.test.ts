import { describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { loadConfigFromSources } from "../../src/ratelimit/config/load.js";
import type { RateLimitConfig } from "../../src/ratelimit/config/types.js";

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

describe("load-time errors name the file, the path and the line", () => {
  const cases: [title: string, yaml: string, message: string][] = [
    ["empty domain", "descriptors: []\n", "bad.yaml: config file cannot have empty domain (line 1)"],
    ["empty file", "", "bad.yaml: config file cannot have empty domain (line 1)"],
    ["empty key", "domain: d\ndescriptors:\n  - value: v\n", "bad.yaml: descriptor has empty key at descriptors[0] (line 3)"],
    [
      "duplicate key_value at one level",
      "domain: d\ndescriptors:\n  - key: k\n    value: v\n  - key: k\n    value: v\n",
      "bad.yaml: duplicate descriptor composite key 'd.k_v' at descriptors[1] (line 5)",
    ],
    [
      "duplicate bare key nested",
      "domain: d\ndescriptors:\n  - key: a\n    descriptors:\n      - key: k\n      - key: k\n",
      "bad.yaml: duplicate descriptor composite key 'd.a.k' at descriptors[0].descriptors[1] (line 6)",
    ],
    [
      "bad unit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: fortnight\n      requests_per_unit: 1\n",
      "bad.yaml: invalid rate limit unit 'fortnight' at descriptors[0].rate_limit (line 4)",
    ],
    [
      "missing unit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      requests_per_unit: 1\n",
      "bad.yaml: invalid rate limit unit '' at descriptors[0].rate_limit (line 4)",
    ],
    [
      "UNKNOWN is not a unit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: unknown, requests_per_unit: 1}\n",
      "bad.yaml: invalid rate limit unit 'unknown' at descriptors[0].rate_limit (line 4)",
    ],
    [
      "unlimited together with a unit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unlimited: true\n      unit: second\n",
      "bad.yaml: should not specify rate limit unit when unlimited at descriptors[0].rate_limit (line 4)",
    ],
    [
      "replaces entry without a name",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: second\n      requests_per_unit: 1\n      replaces:\n        - name: ''\n",
      "bad.yaml: should not have an empty replaces entry at descriptors[0].rate_limit.replaces[0] (line 8)",
    ],
    [
      "replaces naming itself",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      name: me\n      unit: second\n      requests_per_unit: 1\n      replaces: [{name: me}]\n",
      "bad.yaml: replaces should not contain name of same descriptor at descriptors[0].rate_limit.replaces[0] (line 8)",
    ],
    [
      "share_threshold without a wildcard",
      "domain: d\ndescriptors:\n  - key: k\n    value: plain\n    share_threshold: true\n    rate_limit: {unit: second, requests_per_unit: 1}\n",
      "bad.yaml: share_threshold can only be used with wildcard values (containing '*'), but found key 'k_plain' at descriptors[0] (line 3)",
    ],
    [
      "unknown key in a descriptor (misspelled rate_limit)",
      "domain: d\ndescriptors:\n  - key: k\n    ratelimit:\n      unit: second\n",
      "bad.yaml: config error, unknown key 'ratelimit' at descriptors[0].ratelimit (line 4)",
    ],
    [
      "unknown key in rate_limit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: second\n      requestsperunit: 5\n",
      "bad.yaml: config error, unknown key 'requestsperunit' at descriptors[0].rate_limit.requestsperunit (line 6)",
    ],
    ["unknown key at the top level", "domain: d\nversion: 2\n", "bad.yaml: config error, unknown key 'version' at version (line 2)"],
    [
      "unknown key in a replaces entry",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1, replaces: [{name: x, why: y}]}\n",
      "bad.yaml: config error, unknown key 'why' at descriptors[0].rate_limit.replaces[0].why (line 4)",
    ],
    [
      "a list item that is not a mapping",
      "domain: d\ndescriptors:\n  - a\n",
      "bad.yaml: config error, yaml file contains list of type other than map: a at descriptors[0] (line 3)",
    ],
    ["descriptors that is not a list", "domain: d\ndescriptors: foo\n", "bad.yaml: config error, expected a list at descriptors (line 2)"],
    [
      "rate_limit that is not a mapping",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: 5\n",
      "bad.yaml: config error, rate_limit must be a mapping at descriptors[0].rate_limit (line 4)",
    ],
    [
      "negative requests_per_unit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: -1}\n",
      "bad.yaml: config error, expected an integer from 0 to 4294967295 at descriptors[0].rate_limit.requests_per_unit (line 4)",
    ],
    [
      "requests_per_unit above uint32",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 4294967296}\n",
      "bad.yaml: config error, expected an integer from 0 to 4294967295 at descriptors[0].rate_limit.requests_per_unit (line 4)",
    ],
    [
      "fractional requests_per_unit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1.5}\n",
      "bad.yaml: config error, expected an integer from 0 to 4294967295 at descriptors[0].rate_limit.requests_per_unit (line 4)",
    ],
    [
      "quoted requests_per_unit",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: '5'}\n",
      "bad.yaml: config error, expected an integer from 0 to 4294967295 at descriptors[0].rate_limit.requests_per_unit (line 4)",
    ],
    [
      "shadow_mode that is not a boolean",
      "domain: d\ndescriptors:\n  - key: k\n    shadow_mode: maybe\n",
      "bad.yaml: config error, expected true or false at descriptors[0].shadow_mode (line 4)",
    ],
    [
      "key that is not a string",
      "domain: d\ndescriptors:\n  - key: [a, b]\n",
      "bad.yaml: config error, expected a string at descriptors[0].key (line 3)",
    ],
    [
      "unknown algorithm",
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1, algorithm: leaky_bucket}\n",
      "bad.yaml: config error, 'leaky_bucket' is not one of fixed_window, sliding_window, token_bucket at descriptors[0].rate_limit.algorithm (line 4)",
    ],
    ["unknown failure_mode on the domain", "domain: d\nfailure_mode: open\n", "bad.yaml: config error, 'open' is not one of allow, deny at failure_mode (line 2)"],
    ["top level that is a list", "- domain: d\n", "bad.yaml: error loading config file: the top level must be a mapping (line 1)"],
    ["two documents", "domain: a\n---\ndomain: b\n", "bad.yaml: error loading config file: a config file must hold one YAML document, found several"],
  ];

  it.each(cases)("%s", (_title, yaml, message) => {
    const err = errorOf(() => load(yaml));
    expect(err.code).toBe("config_error");
    expect(err.message).toBe(message);
  });

  it("duplicate domain across files names the second file", () => {
    const a = { name: "a.yaml", text: "domain: shared\n" };
    const b = { name: "b.yaml", text: "descriptors: []\ndomain: shared\n" };
    expect(errorOf(() => loadConfigFromSources([a, b])).message).toBe("b.yaml: duplicate domain 'shared' in config file at domain (line 2)");
  });

  it("broken YAML syntax is reported with its line", () => {
    const err = errorOf(() => load("domain: d\ndescriptors: [\n  - key: k\n"));
    expect(err.code).toBe("config_error");
    expect(err.message).toMatch(/^bad\.yaml: error loading config file: .+ \(line \d+\)$/);
  });

  it("duplicate mapping keys are rejected rather than silently overwritten", () => {
    expect(errorOf(() => load("domain: a\ndomain: b\n")).message).toMatch(/^bad\.yaml: error loading config file: Map keys must be unique/);
  });

  it("an alias bomb is refused instead of expanding without bound", () => {
    const lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(",")}]`);
    const err = errorOf(() => load(`${lines.join("\n")}\ndomain: d\n`));
    expect(err.message).toBe("bad.yaml: error loading config file: document is too large or too deeply nested");
  });
});
