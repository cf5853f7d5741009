import type { Command } from "commander";
import { TollgateError } from "../errors.js";
import { defaultAdminUrl, defaultLocalTokenDir, requiredAdminToken } from "./admin-target.js";

interface AdminFlags {
  adminUrl?: string;
  tokenFile?: string;
  localTokenDir: string;
  operator?: string;
}

const TIMEOUT_MS = 10_000;

/** POSTs a state-changing call to a running tollgate's admin API and prints its JSON answer. */
async function call(path: string, given: AdminFlags, body: Record<string, unknown>): Promise<void> {
  const flags = { ...given, adminUrl: given.adminUrl ?? defaultAdminUrl() };
  const token = requiredAdminToken(flags);
  let res: Response;
  try {
    res = await fetch(new URL(path, flags.adminUrl), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ ...body, ...(flags.operator ? { operator: flags.operator } : {}) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new TollgateError("internal_error", `cannot reach the admin API at ${flags.adminUrl}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  if (!res.ok) throw new TollgateError("config_error", `admin API answered ${res.status}: ${text.slice(0, 500)}`);
  process.stdout.write(`${text.trim()}\n`);
}

function adminOptions(cmd: Command): Command {
  return cmd
    .option("--admin-url <url>", "the running tollgate's admin API (default: TOLLGATE_HTTP_ADDR's, else http://127.0.0.1:8181)")
    .option("--token-file <file>", "file holding the admin token (else TOLLGATE_ADMIN_TOKEN, else the loopback server's generated token)")
    .option("--local-token-dir <dir>", "where a loopback tollgate writes its generated admin token", defaultLocalTokenDir())
    .option("--operator <name>", "who is making the change, for the audit trail");
}

/** `tollgate rollback [revision]` and `tollgate promote`: audited policy changes on a running server. */
export function registerPolicyAdmin(program: Command): void {
  adminOptions(program.command("rollback [revision]").description("return the running tollgate to an earlier kept revision (the previous one by default)")).action(
    (revision: string | undefined, flags: AdminFlags) => call("/v1/policy/rollback", flags, revision ? { revision } : {}),
  );
  adminOptions(program.command("promote").description("make the shadow candidate policy the active one")).action((flags: AdminFlags) => call("/v1/policy/promote", flags, {}));
}
