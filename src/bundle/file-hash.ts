import { createHash } from "node:crypto";
import { TollgateError } from "../errors.js";
import { goCanonicalJson } from "./go-canonical-json.js";

/** OPA's HashingAlgorithm names (bundle/hash.go) → Node digest names. */
const ALGORITHMS: Readonly<Record<string, string>> = {
  MD5: "md5",
  "SHA-1": "sha1",
  "SHA-224": "sha224",
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
  "SHA-512-224": "sha512-224",
  "SHA-512-256": "sha512-256",
};

export function isSupportedHashAlgorithm(name: string): boolean {
  return Object.hasOwn(ALGORITHMS, name);
}

/** data.json, data.yaml/yml and .manifest are hashed over their canonical JSON; everything else over raw bytes. */
export function isStructuredFile(file: string): boolean {
  const base = file.slice(file.lastIndexOf("/") + 1);
  return base === "data.json" || base === "data.yaml" || base === "data.yml" || base === ".manifest";
}

/** The digest OPA computes for one bundle file. Throws on an unknown algorithm or unparsable structured file. */
export function hashBundleFile(file: string, content: Buffer, algorithm: string): Buffer {
  const node = ALGORITHMS[algorithm];
  if (node === undefined) throw new TollgateError("policy_build_error", `unsupported hashing algorithm: ${algorithm}`);
  if (/(?:^|\/)data\.ya?ml$/.test(file)) throw new TollgateError("policy_build_error", `${file}: YAML data files are not supported`);
  return createHash(node).update(isStructuredFile(file) ? goCanonicalJson(content) : content).digest();
}
