import { Command } from "commander";
import { TollgateError } from "../errors.js";
import { registerEval } from "./eval.js";
import { registerKeys } from "./keys.js";
import { registerAudit } from "./audit.js";
import { registerBundle } from "./bundle.js";
import { registerPolicyAdmin } from "./policy-admin.js";
import { registerReport } from "./report.js";
import { registerServe } from "./serve.js";

export async function main(argv: string[]): Promise<void> {
  const program = new Command("tollgate").description("policy and traffic control for LLM APIs behind Envoy").showHelpAfterError();
  registerServe(program);
  registerEval(program);
  registerKeys(program);
  registerPolicyAdmin(program);
  registerBundle(program);
  registerAudit(program);
  registerReport(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = TollgateError.from(err);
    process.stderr.write(`tollgate: ${e.message}\n`);
    process.exit(e.code === "config_error" ? 2 : 1);
  }
}
