import { describe, expect, it } from "vitest";
import { compileConfig } from "../../src/ratelimit/config/compile.js";
import { readRawFile } from "../../src/ratelimit/config/schema.js";
import type { DescriptorNode, RateLimitConfig } from "../../src/ratelimit/config/types.js";
import { parseYamlTree } from "../../src/ratelimit/config/yaml-tree.js";
import { TOLLGATE_CONTRACT, connectionManagers, dig, routesOf, upstreamOfRoute } from "./support/envoy-checks.js";
import { descriptorsFor, type DescriptorEntry } from "./support/descriptors.js";
import { readRepoFile, readRepoYaml } from "./support/repo.js";

const FILE = "ratelimit/config.yaml";

/** Loads a config text with tollgate's own loader (the one `serve --ratelimit-config` uses). */
function load(text: string): RateLimitConfig {
  return compileConfig([readRawFile(FILE, parseYamlTree(FILE, text))]);
}

/** envoyproxy/ratelimit's lookup: per level, "key_value" first, then "key". */
function ruleFor(config: RateLimitConfig, domain: string, entries: DescriptorEntry[]): string {
  let node: DescriptorNode | undefined = config.domains.get(domain)?.root;
  for (const { key, value } of entries) {
    node = node?.children.get(`${key}_${value}`) ?? node?.children.get(key);
  }
  const limit = node?.limit;
  if (!limit) return "none";
  return limit.unlimited ? "unlimited" : `${limit.requestsPerUnit}/${String(limit.unit).toLowerCase()}`;
}

function providerRoute(upstream: string): unknown {
  const [{ hcm, path }] = connectionManagers(readRepoYaml("envoy/envoy.yaml"));
  const found = routesOf(hcm!, path!).find((r) => upstreamOfRoute(r.route, TOLLGATE_CONTRACT.upstreamHeader) === upstream);
  return found?.route;
}

function catchAllRoute(): unknown {
  const [{ hcm, path }] = connectionManagers(readRepoYaml("envoy/envoy.yaml"));
  return routesOf(hcm!, path!).find((r) => r.name === "no-upstream")?.route;
}

/** Both calls Envoy makes for an allowed request: the flood guard's (stage 1, before ext_authz), then the tenant filter's (stage 0). */
function requestTo(upstream: string, tenant: string | undefined): DescriptorEntry[][] {
  const headers: Record<string, string> = { "x-tollgate-upstream": upstream };
  if (tenant !== undefined) headers["x-tollgate-tenant"] = tenant;
  const facts = { remoteAddress: "172.18.0.1" };
  return [
    ...descriptorsFor(dig(catchAllRoute(), "route.rate_limits"), { headers: {}, ...facts }, 1),
    ...descriptorsFor(dig(providerRoute(upstream), "route.rate_limits"), { headers, ...facts }),
  ];
}

describe("ratelimit/config.yaml", () => {
  it("loads with tollgate's ratelimit loader, without warnings, in the domain envoy.yaml sends", () => {
    const config = load(readRepoFile(FILE));
    expect([...config.domains.keys()]).toEqual([TOLLGATE_CONTRACT.rateLimitDomain]);
    expect(config.warnings).toEqual([]);
  });

  it("the route actions in envoy.yaml produce these three descriptors for an allowed request: the client address first, then the tenant's", () => {
    expect(requestTo("openai", "acme")).toEqual([
      [
        { key: "generic_key", value: "per_client_ip" },
        { key: "remote_address", value: "172.18.0.1" },
      ],
      [{ key: "tenant", value: "acme" }],
      [
        { key: "tenant", value: "acme" },
        { key: "upstream", value: "openai" },
      ],
    ]);
  });

  it("without x-tollgate-tenant only the per-client-address descriptor is sent", () => {
    expect(requestTo("mistral", undefined)).toEqual([
      [
        { key: "generic_key", value: "per_client_ip" },
        { key: "remote_address", value: "172.18.0.1" },
      ],
    ]);
  });

  const table: { upstream: string; tenant: string; expected: [string, string, string] }[] = [
    { upstream: "openai", tenant: "acme", expected: ["20/second", "60/minute", "30/minute"] },
    { upstream: "mock-llm", tenant: "acme", expected: ["20/second", "60/minute", "unlimited"] },
    { upstream: "anthropic", tenant: "globex", expected: ["20/second", "600/minute", "300/minute"] },
    { upstream: "gemini", tenant: "internal-batch", expected: ["20/second", "unlimited", "none"] },
    { upstream: "azure-openai", tenant: "globex", expected: ["20/second", "600/minute", "300/minute"] },
    { upstream: "ollama", tenant: "acme", expected: ["20/second", "60/minute", "30/minute"] },
  ];
  it.each(table)("tenant $tenant to $upstream is limited by [client address, tenant, tenant+upstream] = $expected", ({ upstream, tenant, expected }) => {
    const config = load(readRepoFile(FILE));
    expect(requestTo(upstream, tenant).map((d) => ruleFor(config, "tollgate", d))).toEqual(expected);
  });

  it("a broken copy with the descriptor key misspelt leaves tenants without a limit", () => {
    const config = load(readRepoFile(FILE).replaceAll("key: tenant", "key: tennant"));
    expect(requestTo("openai", "globex").map((d) => ruleFor(config, "tollgate", d))).toEqual(["20/second", "none", "none"]);
  });

  it("a broken copy in another domain answers nothing for domain tollgate", () => {
    const config = load(readRepoFile(FILE).replace("domain: tollgate", "domain: envoy"));
    expect([...config.domains.keys()]).toEqual(["envoy"]);
    expect(requestTo("openai", "acme").map((d) => ruleFor(config, "tollgate", d))).toEqual(["none", "none", "none"]);
  });

  it("a broken copy with a bad unit is refused by the loader", () => {
    expect(() => load(readRepoFile(FILE).replace("unit: second", "unit: fortnight"))).toThrow(/invalid rate limit unit 'fortnight'/);
  });
});
