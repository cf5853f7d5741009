import { createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TollgateError } from "../errors.js";
import { capabilitiesFile } from "../paths.js";
import { LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT } from "../bundle/built-policy.js";
import { scanPolicyDir } from "./scan-dir.js";
import { runOpa } from "./opa-cli.js";
import { loadBundle, type LoadedBundle } from "../bundle/load.js";
import { DEFAULT_SIGNING_ALGORITHM, SIGNING_ALGORITHMS } from "../bundle/verification-key.js";
import type { BundleVerificationConfig } from "../bundle/verify.js";

/** opa build's default --verification-key-id, which also names the key in the token. */
export const DEFAULT_KEY_ID = "default";

export interface BundleSigning {
  /** Private key PEM file, or for HS* a file holding the shared secret. */
  keyFile: string;
  algorithm?: string;
  keyId?: string;
  /** Written into the token's scope claim. */
  scope?: string;
}

export interface BuildBundleOptions {
  dir: string;
  output: string;
  decisionPath: string;
  revision?: string;
  signing?: BundleSigning;
  runTests?: boolean;
  opaBin?: string;
}

export interface BuiltBundle {
  loaded: LoadedBundle;
  testsRun: boolean;
}

/** The verification key matching a signing key: the public half, or the shared secret itself for HS*. */
function verificationFor(signing: BundleSigning, algorithm: string, keyId: string): BundleVerificationConfig {
  const material = readFileSync(signing.keyFile, "utf8");
  const key = algorithm.startsWith("HS") ? material : (createPublicKey(material).export({ type: "spki", format: "pem" }) as string);
  return { keys: { [keyId]: { key, algorithm, scope: signing.scope ?? "" } }, keyId, scope: signing.scope ?? "" };
}

/**
 * `opa build -t wasm -b` over a policies folder (tests run first when it has any), signed with
 * --signing-key when asked. The output is read back through tollgate's own loader and signature
 * check, so a bundle that tollgate would refuse is never reported as built.
 */
export async function buildBundle(options: BuildBundleOptions): Promise<BuiltBundle> {
  const dir = path.resolve(options.dir);
  const output = path.resolve(options.output);
  const scan = await scanPolicyDir(dir);
  const algorithm = options.signing?.algorithm ?? DEFAULT_SIGNING_ALGORITHM;
  if (options.signing && !SIGNING_ALGORITHMS.includes(algorithm)) {
    throw new TollgateError("config_error", `unknown signing algorithm ${algorithm} (one of ${SIGNING_ALGORITHMS.join(", ")})`);
  }
  const testsRun = options.runTests !== false && scan.hasTests;
  if (testsRun) await runOpa(["test", dir], { opaBin: options.opaBin });

  const work = mkdtempSync(path.join(os.tmpdir(), "tollgate-bundle-"));
  try {
    const args = [
      "build", "-t", "wasm", "-b", ".",
      "-e", options.decisionPath,
      ...(scan.definesLogMask ? ["-e", LOG_MASK_ENTRYPOINT] : []),
      ...(scan.definesLogDrop ? ["-e", LOG_DROP_ENTRYPOINT] : []),
      "--capabilities", capabilitiesFile,
      "--ignore", "*_test.rego",
      "--revision", options.revision ?? scan.revision,
      "-o", output,
    ];
    const keyId = options.signing?.keyId ?? DEFAULT_KEY_ID;
    if (options.signing) {
      args.push("--signing-key", path.resolve(options.signing.keyFile), "--signing-alg", algorithm, "--verification-key-id", keyId);
      if (options.signing.scope) {
        // opa build puts a scope into the token only through a claims file (which then replaces the keyid claim).
        const claims = path.join(work, "claims.json");
        writeFileSync(claims, JSON.stringify({ keyid: keyId, scope: options.signing.scope }));
        args.push("--claims-file", claims);
      }
    }
    await runOpa(args, { cwd: dir, opaBin: options.opaBin });
    const verification = options.signing ? verificationFor(options.signing, algorithm, keyId) : undefined;
    const loaded = loadBundle(readFileSync(output), { decisionPath: options.decisionPath, ...(verification ? { verification } : {}) });
    return { loaded, testsRun };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
