import { TollgateError } from "../errors.js";
import { jwsCheckFor } from "../crypto/jws.js";
import { SIGNATURES_FILE } from "./built-policy.js";
import { hashBundleFile, isSupportedHashAlgorithm } from "./file-hash.js";
import { globMatch } from "./glob.js";
import { parseJsonText } from "./go-json.js";
import type { BundleArchive } from "./read.js";
import { decodePayload, decodeSignaturesFile, headerKeyId, rawUrlBase64, splitCompact, type DecodedSignature, type SignedFile } from "./signature-token.js";
import { DEFAULT_SIGNING_ALGORITHM, parseVerificationKey, type VerificationKey } from "./verification-key.js";

/** OPA's bundle `signing` configuration. */
export interface BundleVerificationConfig {
  /** Key id → key. With one key and no keyId, the token's kid (or keyid claim) picks it. */
  keys: Readonly<Record<string, VerificationKey>>;
  /** When set, this key is used whatever the token names (OPA: `keyid`). */
  keyId?: string;
  /** Required scope claim; when empty, the key's own scope applies. */
  scope?: string;
  /** Go filepath.Match patterns of files left out of the hash check (OPA: `exclude_files`). */
  excludeFiles?: readonly string[];
}

export type SignatureFailureReason =
  | "unsigned"
  | "no_verification_key"
  | "malformed"
  | "unknown_key"
  | "key_error"
  | "bad_signature"
  | "scope_mismatch"
  | "file_not_signed"
  | "hash_mismatch"
  | "file_missing";

export interface SignatureVerified {
  /** False when no verification is configured and the bundle carries no signature. */
  verified: boolean;
  keyId: string | undefined;
  scope: string | undefined;
  /** Files whose hashes matched, in archive order. */
  files: string[];
  /** Files skipped through excludeFiles. */
  excluded: string[];
}

export type SignatureCheck = ({ ok: true } & SignatureVerified) | { ok: false; reason: SignatureFailureReason; message: string };

/** Internal: carries the typed reason up to checkBundleSignatures. */
class Failure extends TollgateError {
  constructor(
    readonly reason: SignatureFailureReason,
    message: string,
  ) {
    super("policy_build_error", message);
  }
}

function attempt<T>(reason: SignatureFailureReason, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new Failure(reason, TollgateError.from(err).message);
  }
}

function signaturesOf(archive: BundleArchive): { tokens: string[] | undefined; plugin: string } | undefined {
  const found = [...archive.files.keys()].filter((f) => f.slice(f.lastIndexOf("/") + 1) === SIGNATURES_FILE);
  if (found.length > 1) throw new Failure("malformed", `bundle contains multiple signatures files: "${found[0]}" and "${found[1]}"`);
  if (found.length === 0) return undefined;
  const decoded = attempt("malformed", () => decodeSignaturesFile(parseJsonText(archive.files.get(found[0] as string) as Buffer, "bundle load failed on signatures decode")));
  return { tokens: decoded.signatures, plugin: decoded.plugin };
}

/** OPA's verifyJWTSignature: key id from config, else header kid, else the keyid claim; algorithm from the key config. */
function verifyToken(token: string, config: BundleVerificationConfig): { payload: DecodedSignature; keyId: string; scope: string } {
  const parts = splitCompact(token);
  if (!parts) throw new Failure("malformed", "failed to split compact JWT: invalid number of segments");
  let keyId = config.keyId ?? "";
  if (keyId === "") keyId = attempt("malformed", () => headerKeyId(parts.header)) ?? "";
  const payload = attempt("malformed", () => decodePayload(parts.payload));
  if (keyId === "") keyId = payload.keyId;
  if (keyId === "") throw new Failure("unknown_key", "verification key ID is empty");
  const keyConfig = Object.hasOwn(config.keys, keyId) ? config.keys[keyId] : undefined;
  if (!keyConfig) throw new Failure("unknown_key", `verification key corresponding to ID ${keyId} not found`);
  const algorithm = keyConfig.algorithm || DEFAULT_SIGNING_ALGORITHM;
  const key = attempt("key_error", () => parseVerificationKey(keyConfig.key, algorithm));
  const signature = rawUrlBase64(parts.signature);
  if (signature === undefined) throw new Failure("malformed", "failed to base64 decode JWT signature");
  const check = jwsCheckFor(algorithm);
  if (!check || !check(key, Buffer.from(`${parts.header}.${parts.payload}`, "latin1"), signature)) {
    throw new Failure("bad_signature", `failed to verify JWT signature with key ${keyId} (${algorithm})`);
  }
  const scope = config.scope || keyConfig.scope || "";
  if (payload.scope !== scope) throw new Failure("scope_mismatch", `scope mismatch (bundle signed for ${JSON.stringify(payload.scope)}, expected ${JSON.stringify(scope)})`);
  return { payload, keyId, scope };
}

function checkFile(file: string, content: Buffer, signed: SignedFile): void {
  if (signed.algorithm === "") throw new Failure("malformed", `no hashing algorithm provided for file ${file}`);
  if (!isSupportedHashAlgorithm(signed.algorithm)) throw new Failure("malformed", `unsupported hashing algorithm ${signed.algorithm} for file ${file}`);
  const got = attempt("hash_mismatch", () => {
    try {
      return hashBundleFile(file, content, signed.algorithm);
    } catch (err) {
      throw new TollgateError("policy_build_error", `file ${file}: ${TollgateError.from(err).message}`);
    }
  });
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(signed.hash)) throw new Failure("malformed", `file ${file}: signed hash is not hex`);
  const want = Buffer.from(signed.hash, "hex");
  if (!want.equals(got)) throw new Failure("hash_mismatch", `file ${file} hash mismatch (want ${want.toString("hex")}, got ${got.toString("hex")})`);
}

function verify(archive: BundleArchive, config: BundleVerificationConfig | undefined): SignatureVerified {
  const signatures = signaturesOf(archive);
  if (signatures === undefined || (signatures.tokens === undefined && signatures.plugin === "")) {
    if (config) throw new Failure("unsigned", "bundle missing .signatures.json file");
    return { verified: false, keyId: undefined, scope: undefined, files: [], excluded: [] };
  }
  if (!config) throw new Failure("no_verification_key", "bundle is signed but no verification key is configured");
  if (signatures.plugin !== "" && signatures.plugin !== "_default") throw new Failure("malformed", `no verifier exists under id ${signatures.plugin}`);
  const tokens = signatures.tokens ?? [];
  if (tokens.length === 0) throw new Failure("malformed", ".signatures.json: missing JWT (expected exactly one)");
  if (tokens.length > 1) throw new Failure("malformed", ".signatures.json: multiple JWTs not supported (expected exactly one)");
  const { payload, keyId, scope } = verifyToken(tokens[0] as string, config);

  const pending = new Map(payload.files.map((f) => [f.name, f]));
  const files: string[] = [];
  const excluded: string[] = [];
  for (const [file, content] of archive.files) {
    if (file.slice(file.lastIndexOf("/") + 1) === SIGNATURES_FILE) continue;
    if ((config.excludeFiles ?? []).some((pattern) => globMatch(pattern, file))) {
      pending.delete(file);
      excluded.push(file);
      continue;
    }
    const signed = pending.get(file);
    if (!signed) throw new Failure("file_not_signed", `file ${file} not included in bundle signature`);
    checkFile(file, content, signed);
    pending.delete(file);
    files.push(file);
  }
  if (pending.size > 0) throw new Failure("file_missing", `file(s) [${[...pending.keys()].join(" ")}] specified in bundle signatures but not found in the target bundle`);
  return { verified: true, keyId, scope, files, excluded };
}

/**
 * Checks .signatures.json as OPA does: exactly one JWT, verified with the configured key; its
 * scope must match; every bundle file but the excluded ones must be listed with a matching
 * hash (data.json and .manifest over canonical JSON), and every listed file must exist.
 * Without a configuration an unsigned bundle passes unverified and a signed one is refused, as in OPA.
 */
export function checkBundleSignatures(archive: BundleArchive, config: BundleVerificationConfig | undefined): SignatureCheck {
  try {
    return { ok: true, ...verify(archive, config) };
  } catch (err) {
    if (err instanceof Failure) return { ok: false, reason: err.reason, message: `bundle signature: ${err.message}` };
    return { ok: false, reason: "malformed", message: `bundle signature: ${TollgateError.from(err).message}` };
  }
}

/** checkBundleSignatures, throwing a TollgateError ("policy_build_error") with the precise reason on failure. */
export function verifyBundleSignatures(archive: BundleArchive, config: BundleVerificationConfig | undefined): SignatureVerified {
  const result = checkBundleSignatures(archive, config);
  if (!result.ok) throw new TollgateError("policy_build_error", result.message, { cause: { reason: result.reason } });
  const { ok: _ok, ...verified } = result;
  return verified;
}
