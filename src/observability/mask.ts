/** Header and field names whose values are credentials. Compared lower-case. */
const SENSITIVE_KEYS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "x-goog-api-key",
  "x-amz-security-token",
  "password",
  "secret",
  "client_secret",
  "access_token",
  "refresh_token",
  "id_token",
  "token",
  "private_key",
  // Query parameters that carry keys (Gemini's ?key=, signed URLs), as they appear in parsed_query.
  "key",
  "api_key",
  "apikey",
  "sig",
  "signature",
]);

const SENSITIVE_QUERY = /([?&](?:key|api[-_]?key|access_token|token|sig|signature|password|secret)=)[^&#]*/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/g;

export const MASK = "[REDACTED]";
const MAX_DEPTH = 12;

/**
 * Known secret values (provider keys loaded by tollgate). Any log string containing
 * one has it replaced, wherever it appears.
 */
const knownSecrets = new Set<string>();

export function registerSecret(value: string): void {
  if (value.length >= 4) knownSecrets.add(value);
}

export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase();
  return SENSITIVE_KEYS.has(k) || k.endsWith("-api-key") || k.endsWith("_api_key") || k.endsWith("-token");
}

export function maskString(value: string): string {
  let out = value.replace(BEARER, `$1 ${MASK}`).replace(SENSITIVE_QUERY, `$1${MASK}`);
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join(MASK);
  return out;
}

/** Returns a copy of value with credentials masked. Never mutates its argument. */
export function maskValue(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return maskString(value);
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[Truncated]";
  if (Array.isArray(value)) return value.map((v) => maskValue(v, depth + 1));
  if (value instanceof Error) return { type: value.name, message: maskString(value.message) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSensitiveKey(k) ? MASK : maskValue(v, depth + 1);
  }
  return out;
}
