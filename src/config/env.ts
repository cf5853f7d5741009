import { envName, SETTINGS_TABLE } from "./table.js";

/** Env booleans are strings; z.coerce.boolean would read "false" as true. */
function envValue(raw: string): string | boolean {
  if (raw === "true") return true;
  if (raw === "false") return false;
  return raw;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const row of SETTINGS_TABLE) {
    const raw = env[envName(row)];
    if (raw !== undefined && raw !== "") out[row.key] = envValue(raw);
  }
  return out;
}
