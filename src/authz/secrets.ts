import { readFileSync } from "node:fs";
import { TollgateError } from "../errors.js";
import { registerSecret } from "../observability/mask.js";
import type { Pair } from "./decision.js";

const REF = /\$\{(env|file):([^}]{1,512})\}/g;
const MAX_SECRET_BYTES = 16 * 1024;

/**
 * Resolves secret references in header templates, e.g. "Bearer ${env:OPENAI_API_KEY}" or
 * "${file:/run/secrets/anthropic}". The policy only ever sees the reference; the value is
 * registered with the logger's masker the moment it is read, so it cannot reach a log line.
 */
export class SecretResolver {
  private readonly env: NodeJS.ProcessEnv;
  private readonly fileCache = new Map<string, { value: string; at: number }>();
  private readonly fileTtlMs: number;

  constructor(opts: { env?: NodeJS.ProcessEnv; fileTtlMs?: number } = {}) {
    this.env = opts.env ?? process.env;
    this.fileTtlMs = opts.fileTtlMs ?? 5_000;
  }

  resolve(pairs: readonly Pair[]): Pair[] {
    return pairs.map(([header, template]) => [header, template.replace(REF, (_m, kind: string, name: string) => this.lookup(kind, name))]);
  }

  private lookup(kind: string, name: string): string {
    let value: string | undefined;
    if (kind === "env") value = this.env[name];
    else value = this.readFile(name);
    if (value === undefined || value === "") throw new TollgateError("secret_unavailable", `secret reference ${kind}:${name} is not set`);
    registerSecret(value);
    return value;
  }

  private readFile(file: string): string | undefined {
    const cached = this.fileCache.get(file);
    const now = Date.now();
    if (cached && now - cached.at < this.fileTtlMs) return cached.value;
    try {
      const buf = readFileSync(file);
      if (buf.length > MAX_SECRET_BYTES) throw new TollgateError("secret_unavailable", `secret file ${file} is larger than ${MAX_SECRET_BYTES} bytes`);
      const value = buf.toString("utf8").trim();
      this.fileCache.set(file, { value, at: now });
      return value;
    } catch (err) {
      if (err instanceof TollgateError) throw err;
      return undefined;
    }
  }
}
