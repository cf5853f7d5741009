import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { TollgateError } from "../errors.js";

/** JWS algorithms a bundle signature may use (OPA accepts any jwa algorithm; these are the ones tollgate verifies). */
export const SIGNING_ALGORITHMS: readonly string[] = [
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
  "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "EdDSA",
];

export const DEFAULT_SIGNING_ALGORITHM = "RS256";

/** One entry of OPA's `keys` configuration: PEM text (or, for HS*, the shared secret itself). */
export interface VerificationKey {
  key: string;
  algorithm: string;
  scope: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n((?:[A-Za-z0-9+/=]*\r?\n)*?)-----END \1-----/;

function keyError(message: string, cause?: unknown): TollgateError {
  return new TollgateError("config_error", message, cause === undefined ? undefined : { cause });
}

function fromPem(type: string, der: Buffer): KeyObject {
  switch (type) {
    case "RSA PUBLIC KEY":
      return createPublicKey({ key: der, format: "der", type: "pkcs1" });
    case "PUBLIC KEY":
      return createPublicKey({ key: der, format: "der", type: "spki" });
    case "RSA PRIVATE KEY":
      return createPrivateKey({ key: der, format: "der", type: "pkcs1" });
    case "PRIVATE KEY":
      return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    case "EC PRIVATE KEY":
      return createPrivateKey({ key: der, format: "der", type: "sec1" });
    case "CERTIFICATE":
      return new X509Certificate(der).publicKey;
    default:
      throw keyError(`unsupported PEM block type ${type}`);
  }
}

/**
 * The key material OPA's parseVerificationKey produces: the raw bytes for HS*, otherwise the
 * first PEM block as a public key, private key (its public half verifies) or certificate.
 * RSA keys under 1024 bits are refused, as Go's crypto/rsa refuses them.
 */
export function parseVerificationKey(key: string, algorithm: string): KeyObject | Buffer {
  if (!SIGNING_ALGORITHMS.includes(algorithm)) throw keyError(`unknown signature algorithm: ${algorithm}`);
  if (algorithm.startsWith("HS")) return Buffer.from(key, "utf8");
  const m = PEM_BLOCK.exec(key);
  if (!m) throw keyError("failed to parse PEM block containing the key");
  let parsed: KeyObject;
  try {
    parsed = fromPem(m[1] as string, Buffer.from((m[2] as string).replace(/\s+/g, ""), "base64"));
  } catch (err) {
    throw err instanceof TollgateError ? err : keyError(`cannot parse the ${m[1]} PEM block: ${(err as Error).message}`, err);
  }
  const bits = parsed.asymmetricKeyDetails?.modulusLength;
  if (parsed.asymmetricKeyType === "rsa" && bits !== undefined && bits < 1024) throw keyError(`RSA key of ${bits} bits is below the 1024-bit minimum`);
  return parsed;
}

/** Reads a verification key file (keys come from files) and checks it parses for the algorithm. */
export function loadVerificationKey(file: string, options: { algorithm?: string; scope?: string } = {}): VerificationKey {
  let key: string;
  try {
    key = readFileSync(file, "utf8");
  } catch (err) {
    throw keyError(`verification key ${file}: ${(err as Error).message}`, err);
  }
  const algorithm = options.algorithm ?? DEFAULT_SIGNING_ALGORITHM;
  try {
    parseVerificationKey(key, algorithm);
  } catch (err) {
    throw keyError(`verification key ${file}: ${TollgateError.from(err).message}`, err);
  }
  return { key, algorithm, scope: options.scope ?? "" };
}
