import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { Authorizer } from "../authz/check.js";
import { SecretResolver } from "../authz/secrets.js";
import { TollgateError } from "../errors.js";
import { CheckRequest, CheckResponse } from "../gen/envoy/service/auth/v3/external_auth.js";
import { MemoryLimitStore } from "../limits/memory/memory-store.js";
import { llmEnricher } from "../llm/enricher.js";
import { createLogger } from "../observability/logger.js";
import { buildPolicies } from "../policy/build.js";
import { createHostBuiltins } from "../policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../policy/wasm/wasm-engine.js";
import { loadSettings, type CliFlags } from "./settings-flags.js";

const MAX_INPUT_BYTES = 8 * 1024 * 1024;

/** `tollgate eval`: one CheckRequest (protobuf JSON) through the real pipeline, CheckResponse printed as JSON. */
export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("evaluate one CheckRequest (protobuf JSON) and print the CheckResponse")
    .requiredOption("--input <file>", "CheckRequest as protobuf JSON")
    .option("--policies <dir>", "policies folder (default ./policies)")
    .option("--decision-path <path>", "decision rule path (default envoy/authz/allow)")
    .option("--dry-run", "turn denials into allows")
    .action(async (flags: CliFlags & { input: string }) => {
      const settings = loadSettings({ ...flags, logLevel: "silent" });
      const text = readFileSync(flags.input);
      if (text.length > MAX_INPUT_BYTES) throw new TollgateError("request_too_large", `${flags.input} is larger than ${MAX_INPUT_BYTES} bytes`);
      let request: CheckRequest;
      try {
        request = CheckRequest.fromJSON(JSON.parse(text.toString("utf8")));
      } catch (err) {
        throw new TollgateError("request_parse_error", `${flags.input}: ${(err as Error).message}`, { cause: err });
      }
      const built = await buildPolicies({ dir: settings.policies, entrypoint: settings.decisionPath, runTests: false });
      const engine = new WasmPolicyEngine(built, createHostBuiltins());
      const authorizer = new Authorizer({
        policy: () => engine,
        logger: createLogger({ level: "silent" }),
        limits: settings.limits,
        skipBodyParse: settings.skipRequestBodyParse,
        dryRun: settings.dryRun,
        onDecisionError: "error",
        logDecisionInput: false,
        logDecisionBody: false,
        store: new MemoryLimitStore({}),
        secrets: new SecretResolver({ secretsDir: settings.secretsDir }),
        enrichers: [llmEnricher()],
      });
      const response = await authorizer.check(request);
      process.stdout.write(`${JSON.stringify(CheckResponse.toJSON(response), null, 2)}\n`);
    });
}
