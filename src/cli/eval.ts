import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { TollgateError } from "../errors.js";
import { CheckRequest, CheckResponse } from "../gen/envoy/service/auth/v3/external_auth.js";
import { MemoryLimitStore } from "../limits/memory/memory-store.js";
import { loadReservationKey } from "../limits/reservation-key.js";
import { createLogger } from "../observability/logger.js";
import { buildPolicies } from "../policy/build.js";
import { createHostBuiltins } from "../policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../policy/wasm/wasm-engine.js";
import { buildPipeline } from "../pipeline.js";
import { addSettingFlags, loadSettings } from "./settings-flags.js";

const MAX_INPUT_BYTES = 8 * 1024 * 1024;

/** Flags for the settings that change an answer (--config reads them all, as serve does). */
const EVAL_SETTINGS = ["policies", "decisionPath", "dryRun", "skipRequestBodyParse", "onDecisionError", "secretsDir", "rateLimitHeaders"] as const;

/** `tollgate eval`: one CheckRequest (protobuf JSON) through the real pipeline, CheckResponse printed as JSON. */
export function registerEval(program: Command): void {
  addSettingFlags(
    program.command("eval").description("evaluate one CheckRequest (protobuf JSON) and print the CheckResponse").requiredOption("--input <file>", "CheckRequest as protobuf JSON"),
    EVAL_SETTINGS,
  ).action(async (flags: Record<string, unknown> & { input: string }) => {
      const settings = loadSettings(flags, process.env, { logLevel: "silent" });
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
      // The same pipeline serve builds, from the same settings; only the store (fresh, in memory) and the logger differ.
      const logger = createLogger({ level: "silent" });
      const pipeline = buildPipeline(settings, { policy: () => engine, logger, store: new MemoryLimitStore({}), reservationKey: loadReservationKey(settings.reservationKeyFile, logger) });
      const response = await pipeline.check(request);
      process.stdout.write(`${JSON.stringify(CheckResponse.toJSON(response), null, 2)}\n`);
    });
}
