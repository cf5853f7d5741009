import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { localTokenPath } from "../admin/local-token.js";
import { DEFAULT_LOCAL_TOKEN_DIR } from "../config/settings.js";
import { TollgateError } from "../errors.js";
import { isLoopbackExempt } from "../net/host-port.js";

interface AdminFlags {
  adminUrl: string;
  tokenFile?: string;
  localTokenDir: string;
  operator?: string;
}

/** --token-file, else TOLLGATE_ADMIN_TOKEN, else the token a loopback server wrote for this port. */
function resolveToken(flags: AdminFlags): string {
  if (flags.tokenFile) return readFileSync(flags.tokenFile, "utf8").trim();
  const fromEnv = process.env["TOLLGATE_ADMIN_TOKEN"];
  if (fromEnv) return fromEnv;
  const url = new URL(flags.adminUrl);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const local = localTokenPath(flags.localTokenDir, port);
  if (isLoopbackExempt(host) && existsSync(local)) return readFileSync(local, "utf8").trim();
  throw new TollgateError(
    "config_error",
    `rollback and promote need the admin token: set TOLLGATE_ADMIN_TOKEN or --token-file (a tollgate serving its admin API on loopback without a token writes one to ${local})`,
  );
}

const TIMEOUT_MS = 10_000;

/** POSTs a state-changing call to a running tollgate's admin API and prints its JSON answer. */
async function call(path: string, flags: AdminFlags, body: Record<string, unknown>): Promise<void> {
  const token = resolveToken(flags);
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
    .option("--admin-url <url>", "the running tollgate's admin API", "http://127.0.0.1:8181")
    .option("--token-file <file>", "file holding the admin token (else TOLLGATE_ADMIN_TOKEN, else the loopback server's generated token)")
    .option("--local-token-dir <dir>", "where a loopback tollgate writes its generated admin token", process.env["TOLLGATE_ADMIN_LOCAL_TOKEN_DIR"] ?? DEFAULT_LOCAL_TOKEN_DIR)
    .option("--operator <name>", "who is making the change, for the audit trail");
}

/** `tollgate rollback [revision]` and `tollgate promote`: audited policy changes on a running server. */
export function registerPolicyAdmin(program: Command): void {
  adminOptions(program.command("rollback [revision]").description("return the running tollgate to an earlier kept revision (the previous one by default)")).action(
    (revision: string | undefined, flags: AdminFlags) => call("/v1/policy/rollback", flags, revision ? { revision } : {}),
  );
  adminOptions(program.command("promote").description("make the shadow candidate policy the active one")).action((flags: AdminFlags) => call("/v1/policy/promote", flags, {}));
}
