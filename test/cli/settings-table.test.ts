import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { addSettingFlags, loadSettings } from "../../src/cli/settings-flags.js";
import { CheckRequest } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { SETTINGS_DEFAULTS } from "../../src/config/settings.js";
import { envName, flagSpec, SETTINGS_TABLE } from "../../src/config/table.js";
import { checkRequest, writePolicyDir } from "../support/app.js";
import { runCli } from "../support/cli.js";

describe("one settings table", () => {
  it("serve --help lists every flag of the table with its env var", () => {
    const help = runCli(["serve", "--help"]).stdout.replace(/\s+/g, " ");
    for (const row of SETTINGS_TABLE) {
      const spec = flagSpec(row, SETTINGS_DEFAULTS[row.key]);
      if (spec === undefined) continue;
      expect(help, row.key).toContain(spec.split(" ")[0]!);
      expect(help, row.key).toContain(`env ${envName(row)}`);
    }
  });

  it("each flag reaches its key, --no-x flips the default, and flags win over env", () => {
    const command = addSettingFlags(new Command("serve").exitOverride());
    command.parse(["--grpc-tls-cert", "c.pem", "--grpc-tls-key", "k.pem", "--no-admin", "--no-watch", "--dry-run", "--shadow-sample-rate", "0.5"], { from: "user" });
    const settings = loadSettings(command.opts(), { TOLLGATE_SHADOW_SAMPLE_RATE: "0.1", TOLLGATE_LOG_LEVEL: "warn" });
    expect(settings).toMatchObject({ grpcTlsCertFile: "c.pem", grpcTlsKeyFile: "k.pem", adminDisabled: true, watch: false, runPolicyTests: true, dryRun: true, shadowSampleRate: 0.5, logLevel: "warn" });
    expect(() => command.parse(["--grpc-tls-cert-file", "c.pem"], { from: "user" })).toThrow(/unknown option/);
  });

  it("an llm: block in the config file is accepted and decides which requests are LLM calls", () => {
    const work = mkdtempSync(path.join(os.tmpdir(), "tg-settings-"));
    // The policy allows LLM calls of provider openai and nothing else.
    const dir = writePolicyDir({ "p.rego": 'package envoy.authz\n\ndefault allow := false\n\nallow if input.llm.provider == "openai"\n' });
    const config = path.join(work, "tollgate.yaml");
    writeFileSync(config, `policies: ${dir}\nllm:\n  pathPrefixes:\n    /team-gpt: openai\n`);
    const input = path.join(work, "check.json");
    const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    const req = checkRequest({ method: "POST", path: "/team-gpt/v1/chat/completions", headers: { "content-type": "application/json" }, body });
    writeFileSync(input, JSON.stringify(CheckRequest.toJSON(req)));

    const withBlock = runCli(["eval", "--config", config, "--input", input]);
    expect(withBlock.status, withBlock.stderr).toBe(0);
    expect(Object.keys(JSON.parse(withBlock.stdout) as object)).toContain("okResponse");

    writeFileSync(config, `policies: ${dir}\n`);
    const without = runCli(["eval", "--config", config, "--input", input]);
    expect(without.status, without.stderr).toBe(0);
    expect(JSON.parse(without.stdout)).toMatchObject({ status: { code: 7 }, deniedResponse: {} });
  });
});
