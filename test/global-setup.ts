import { execFileSync, spawnSync } from "node:child_process";
import { Redis } from "ioredis";

/** Makes sure the shared test Redis answers; starts a throwaway one on 6379 when none does. */
async function ensureRedis(): Promise<void> {
  const url = process.env["TOLLGATE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";
  const ping = async () => {
    const r = new Redis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => undefined);
    try {
      await r.connect();
      return (await r.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };
  if (await ping()) return;
  spawnSync("redis-server", ["--port", "6379", "--bind", "127.0.0.1", "--daemonize", "yes", "--save", "", "--appendonly", "no"], { stdio: "inherit" });
  for (let i = 0; i < 50 && !(await ping()); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await ping())) throw new Error(`no Redis at ${url} and could not start one`);
}

export default async function setup(): Promise<void> {
  // Fails fast with a clear message when the opa CLI cannot be found or installed.
  process.env["OPA_BIN"] ??= execFileSync("node", ["scripts/opa.mjs", "--which"], { encoding: "utf8" }).trim();
  await ensureRedis();
}
