import { readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { TollgateError } from "../errors.js";
import { registerSecret } from "../observability/mask.js";
import type { Pair } from "./decision.js";

const REF = /\$\{(env|file):([^}]{1,512})\}/g;
const MAX_SECRET_BYTES = 16 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_SECRETS_DIR = "/run/secrets";

/**
 * Resolves secret references in header templates, e.g. "Bearer ${env:OPENAI_API_KEY}" or
 * "${file:/run/secrets/anthropic}". The policy only ever sees the reference; the value is
 * registered with the logger's masker the moment it is read, so it cannot reach a log line.
 *
 * A policy must not be able to send tollgate's own settings (TOLLGATE_*, e.g. the admin token) or
 * arbitrary files upstream, so env references to TOLLGATE_* are refused and file references must
 * point inside the secrets folder.
 */
export class SecretResolver {
  private readonly env: NodeJS.ProcessEnv;
  private readonly fileCache = new Map<string, { value: string; at: number }>();
  private readonly fileTtlMs: number;

  private readonly secretsDir: string;

  constructor(opts: { env?: NodeJS.ProcessEnv; fileTtlMs?: number; secretsDir?: string } = {}) {
    this.env = opts.env ?? process.env;
    this.fileTtlMs = opts.fileTtlMs ?? 5_000;
    this.secretsDir = path.resolve(opts.secretsDir ?? DEFAULT_SECRETS_DIR);
  }

  resolve(pairs: readonly Pair[]): Pair[] {
    return pairs.map(([header, template]) => [header, template.replace(REF, (_m, kind: string, name: string) => this.lookup(kind, name))]);
  }

  private lookup(kind: string, name: string): string {
    let value: string | undefined;
    if (kind === "env") {
      if (!ENV_NAME.test(name) || name.toUpperCase().startsWith("TOLLGATE_")) throw new TollgateError("secret_unavailable", `secret reference env:${name} is not allowed`);
      value = this.env[name];
    } else {
      value = this.readFile(this.insideSecretsDir(name));
    }
    if (value === undefined || value === "") throw new TollgateError("secret_unavailable", `secret reference ${kind}:${name} is not set`);
    // A header value with CR/LF or other control characters could smuggle headers upstream.
    if (/[\x00-\x1f\x7f]/.test(value)) throw new TollgateError("secret_unavailable", `secret reference ${kind}:${name} holds control characters`);
    registerSecret(value);
    return value;
  }

  /** The reference's path, after symlinks, must stay inside the secrets folder. */
  private insideSecretsDir(name: string): string {
    const outside = () => new TollgateError("secret_unavailable", `secret reference file:${name} is outside ${this.secretsDir}`);
    const file = path.resolve(this.secretsDir, name);
    if (!file.startsWith(this.secretsDir + path.sep)) throw outside();
    let real: string;
    let realDir: string;
    try {
      real = realpathSync(file);
      realDir = realpathSync(this.secretsDir);
    } catch {
      return file; // missing: reported as "not set" by the caller
    }
    if (!real.startsWith(realDir + path.sep)) throw outside();
    return real;
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
