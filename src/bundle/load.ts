import { bundleToBuiltPolicy, type BundlePolicy } from "./built-policy.js";
import { readBundleArchive, type BundleArchive, type BundleLimits } from "./read.js";
import { verifyBundleSignatures, type BundleVerificationConfig, type SignatureVerified } from "./verify.js";

export interface LoadBundleOptions {
  /** The configured decision path (settings.decisionPath); the manifest must map it to a wasm module. */
  decisionPath: string;
  /** When set, the bundle must carry a valid signature for it. */
  verification?: BundleVerificationConfig;
  /** OPA's skip_verification: signatures are not looked at at all. */
  skipVerification?: boolean;
  limits?: Partial<BundleLimits>;
}

export interface LoadedBundle extends BundlePolicy {
  signature: SignatureVerified;
  digest: string;
  size: number;
}

/**
 * Read → signature check → manifest and data → BuiltPolicy, in OPA's order. Throws a
 * TollgateError ("policy_build_error") naming the first problem; nothing is activated here.
 */
export function loadBundle(source: Buffer | BundleArchive, options: LoadBundleOptions): LoadedBundle {
  const archive = Buffer.isBuffer(source) ? readBundleArchive(source, options.limits) : source;
  const signature = options.skipVerification
    ? { verified: false, keyId: undefined, scope: undefined, files: [], excluded: [] }
    : verifyBundleSignatures(archive, options.verification);
  const policy = bundleToBuiltPolicy(archive, { decisionPath: options.decisionPath });
  return { ...policy, built: { ...policy.built, keyId: signature.keyId }, signature, digest: archive.digest, size: archive.size };
}
