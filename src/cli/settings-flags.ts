import { Option, type Command } from "commander";
import { settingsFromEnv } from "../config/env.js";
import { resolveSettings, SETTINGS_DEFAULTS, settingsFromFile, type Settings } from "../config/settings.js";
import { defaultText, envName, flagSpec, SETTINGS_TABLE, type ScalarKey, type SettingRow } from "../config/table.js";

interface FlagRow {
  row: SettingRow;
  option: Option;
}

const FLAG_ROWS: readonly FlagRow[] = SETTINGS_TABLE.flatMap((row) => {
  const spec = flagSpec(row, SETTINGS_DEFAULTS[row.key]);
  if (spec === undefined) return [];
  const help = `${row.help.replace(/`/g, "")} (default ${defaultText(row, SETTINGS_DEFAULTS[row.key])}; env ${envName(row)})`;
  return [{ row, option: new Option(spec, help) }];
});

/** Adds --config and the flags of the given settings (all of them when none are named), generated from SETTINGS_TABLE. */
export function addSettingFlags(command: Command, keys?: readonly ScalarKey[]): Command {
  command.option("--config <file>", "YAML settings file (env TOLLGATE_CONFIG)");
  for (const { row, option } of FLAG_ROWS) if (!keys || keys.includes(row.key)) command.addOption(option);
  return command;
}

/** The settings commander's parsed options name: each flag maps back to its row's key, no hand-written renames. */
function settingsFromFlags(opts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { row, option } of FLAG_ROWS) {
    const value = opts[option.attributeName()];
    if (value === undefined) continue;
    // commander sets a --no-x option to true until it is given: only an explicit --no-x counts, and it flips the default.
    if (option.negate) {
      if (value === false) out[row.key] = !SETTINGS_DEFAULTS[row.key];
    } else out[row.key] = value;
  }
  return out;
}

/** flags > TOLLGATE_* env > --config file > defaults. */
export function loadSettings(opts: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, overrides: Partial<Settings> = {}): Settings {
  const configFile = (opts["config"] as string | undefined) ?? env["TOLLGATE_CONFIG"];
  return resolveSettings({
    ...(configFile ? { file: settingsFromFile(configFile) } : {}),
    env: settingsFromEnv(env),
    flags: { ...settingsFromFlags(opts), ...overrides },
  });
}

/** README's configuration table, generated from SETTINGS_TABLE (test/cli/readme.test.ts keeps the README equal to it). */
export function settingsTableMarkdown(): string {
  const rows = SETTINGS_TABLE.map((row) => {
    const spec = flagSpec(row, SETTINGS_DEFAULTS[row.key]);
    const flag = spec === undefined ? "" : `\`${spec.split(" ")[0]}\``;
    return `| ${flag} | \`${envName(row)}\` | ${defaultText(row, SETTINGS_DEFAULTS[row.key]).replace(/^(?!\()(.*)$/, "`$1`")} | ${row.help} |`;
  });
  return ["| flag | env | default | |", "|---|---|---|---|", ...rows].join("\n");
}
