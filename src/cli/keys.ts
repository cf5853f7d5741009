import { createHash, randomBytes } from "node:crypto";
import type { Command } from "commander";

/** `tollgate keys`: make and hash client API keys (the policy data stores only SHA-256 hashes). */
export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("client API key helpers");
  keys
    .command("hash <key>")
    .description("print the SHA-256 hex digest to store in policy data")
    .action((key: string) => {
      process.stdout.write(`${createHash("sha256").update(key).digest("hex")}\n`);
    });
  keys
    .command("new")
    .description("generate a random key and print it with its hash")
    .option("--prefix <prefix>", "key prefix", "tg-")
    .action((opts: { prefix: string }) => {
      const key = `${opts.prefix}${randomBytes(24).toString("base64url")}`;
      process.stdout.write(`${JSON.stringify({ key, sha256: createHash("sha256").update(key).digest("hex") })}\n`);
    });
}
