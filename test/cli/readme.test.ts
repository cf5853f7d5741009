import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { envName, SETTINGS_TABLE } from "../../src/config/table.js";
import { settingsTableMarkdown } from "../../src/cli/settings-flags.js";
import { runCli } from "../support/cli.js";

const readme = readFileSync("README.md", "utf8");

describe("README examples", () => {
  it("the eval example allows the demo tenant's request and routes it to mock-llm", () => {
    const cmd = /node bin\/tollgate\.mjs (eval --input \S+)/.exec(readme)![1]!.split(" ");
    const r = runCli(cmd);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { okResponse: { headers: { header: { key: string; value: string } }[] } };
    expect(out.okResponse.headers.map((h) => h.header)).toContainEqual({ key: "x-tollgate-upstream", value: "mock-llm" });
  });

  it("the demo key named in the README is the one whose hash the shipped data holds", () => {
    const key = /API key is \*\*`([^`]+)`\*\*/.exec(readme)![1]!;
    const hash = runCli(["keys", "hash", key]).stdout.trim();
    const data = JSON.parse(readFileSync("policies/data.json", "utf8")) as { gateway: { tenants: { acme: { api_key_sha256: string[] } } } };
    expect(data.gateway.tenants.acme.api_key_sha256).toContain(hash);
  });

  it("every flag in the configuration table exists on tollgate serve", () => {
    const help = runCli(["serve", "--help"]).stdout;
    const flags = [...readme.matchAll(/^\| `(--[a-z-]+)`/gm)].map((m) => m[1]!);
    expect(flags.length).toBeGreaterThan(8);
    for (const flag of flags) expect(help, flag).toContain(flag);
  });

  it("every TOLLGATE_* variable in the README is read by the settings loader", () => {
    const names = new Set([...SETTINGS_TABLE.map(envName), "TOLLGATE_CONFIG"]);
    for (const [, name] of readme.matchAll(/`(TOLLGATE_[A-Z_]+)/g)) expect(names.has(name!), name).toBe(true);
  });

  it("the configuration table is the one generated from the settings table, row for row", () => {
    expect(readme).toContain(settingsTableMarkdown());
  });
});
