import type { Settings } from "../config/settings.js";
import { TollgateError } from "../errors.js";
import { FileBundleSource } from "../bundle/file-source.js";
import { HttpBundleSource } from "../bundle/http-source.js";
import { loadBundle } from "../bundle/load.js";
import type { FetchedBundle } from "../bundle/source-types.js";
import { loadVerificationKey } from "../bundle/verification-key.js";
import type { BundleVerificationConfig } from "../bundle/verify.js";
import type { Logger } from "../observability/logger.js";
import type { HostBuiltins } from "./engine.js";
import type { PolicyRegistry } from "./registry.js";
import { WasmPolicyEngine } from "./wasm/wasm-engine.js";

export interface BundlePolicySource {
  start(): Promise<void>;
  close(): Promise<void>;
}

function verificationOf(settings: Settings): BundleVerificationConfig | undefined {
  if (!settings.bundleVerificationKeyFile) return undefined;
  const key = loadVerificationKey(settings.bundleVerificationKeyFile, {
    algorithm: settings.bundleSigningAlg,
    ...(settings.bundleScope ? { scope: settings.bundleScope } : {}),
  });
  return {
    keys: { [settings.bundleKeyId]: key },
    keyId: settings.bundleKeyId,
    ...(settings.bundleScope ? { scope: settings.bundleScope } : {}),
    ...(settings.bundleExcludeFiles ? { excludeFiles: settings.bundleExcludeFiles.split(",").map((f) => f.trim()).filter(Boolean) } : {}),
  };
}

/**
 * An OPA bundle (a file, or a bundle server) as the active policy source. Each bundle is read,
 * its signatures checked, its WASM loaded, and only then handed to the registry; a refused bundle
 * is recorded and the current revision keeps serving.
 */
export function createBundleSource(opts: { settings: Settings; registry: PolicyRegistry; hostBuiltins: () => HostBuiltins; logger: Logger }): BundlePolicySource {
  const { settings, registry, logger } = opts;
  const verification = verificationOf(settings);
  const onBundle = async (b: FetchedBundle): Promise<void> => {
    const source = `${b.origin === "persisted" ? "persisted-" : ""}bundle:${b.location}`;
    try {
      const loaded = loadBundle(b.archive, { decisionPath: settings.decisionPath, ...(verification ? { verification } : {}), skipVerification: settings.bundleSkipVerification });
      const engine = new WasmPolicyEngine(loaded.built, opts.hostBuiltins());
      registry.activate({ revision: loaded.built.revision, source, engine, keyId: loaded.signature.keyId, testsRun: false });
      if (b.origin === "persisted") logger.warn({ event: "policy_from_disk", revision: loaded.built.revision, saved_at: b.savedAt }, "bundle server unavailable; serving the last activated bundle from disk");
    } catch (err) {
      const e = TollgateError.from(err, "policy_build_error");
      registry.reject(source, e, b.revision || undefined);
      throw e;
    }
  };
  if (settings.bundleUrl) {
    const http = new HttpBundleSource({
      url: settings.bundleUrl,
      onBundle,
      logger,
      ...(settings.bundleTokenFile ? { tokenFile: settings.bundleTokenFile } : {}),
      ...(settings.bundleCaFile ? { caFile: settings.bundleCaFile } : {}),
      minDelayMs: settings.bundlePollMinSeconds * 1000,
      maxDelayMs: settings.bundlePollMaxSeconds * 1000,
      ...(settings.bundleLongPollSeconds ? { longPollingTimeoutSeconds: settings.bundleLongPollSeconds } : {}),
      ...(settings.bundleStateDir ? { stateDir: settings.bundleStateDir } : {}),
    });
    return {
      start: async () => {
        const result = await http.start();
        if (result.origin === "none") logger.error({ event: "policy_rejected", error: result.error, source: `bundle:${settings.bundleUrl}` }, "no bundle could be loaded; not serving until one arrives");
      },
      close: () => http.stop(),
    };
  }
  const file = new FileBundleSource({ file: settings.bundleFile!, onBundle, logger });
  return {
    start: async () => {
      await file.load().catch(() => undefined);
      if (settings.watch) await file.watch();
    },
    close: () => file.close(),
  };
}
