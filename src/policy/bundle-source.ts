import path from "node:path";
import { readTokenFile, type Settings } from "../config/settings.js";
import { FileBundleSource } from "../bundle/file-source.js";
import { HttpBundleSource } from "../bundle/http-source.js";
import { loadBundle } from "../bundle/load.js";
import type { FetchedBundle } from "../bundle/source-types.js";
import { loadVerificationKey } from "../bundle/verification-key.js";
import type { BundleVerificationConfig } from "../bundle/verify.js";
import type { Logger } from "../observability/logger.js";
import type { PolicyActivator } from "./activate.js";
import type { PolicyOrigin } from "./origin.js";
import type { PolicySource } from "./source.js";

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
 * its signatures checked, and handed to the activator as a BuiltPolicy, exactly as a folder
 * build is; a refused bundle is recorded and the current revision keeps serving.
 */
export function createBundleSource(opts: { settings: Settings; activator: PolicyActivator; logger: Logger }): PolicySource {
  const { settings, activator, logger } = opts;
  const verification = verificationOf(settings);
  const onBundle = async (b: FetchedBundle): Promise<void> => {
    const origin: PolicyOrigin =
      b.origin === "file" ? { kind: "bundle-file", path: b.location } : { kind: "bundle-server", url: b.location, ...(b.origin === "persisted" ? { persisted: { savedAt: b.savedAt } } : {}) };
    const rev = await activator.activate(
      origin,
      () => loadBundle(b.archive, { decisionPath: settings.decisionPath, ...(verification ? { verification } : {}), skipVerification: settings.bundleSkipVerification }).built,
      b.revision,
    );
    if (b.origin === "persisted") logger.warn({ event: "policy_from_disk", revision: rev.revision, saved_at: b.savedAt }, "bundle server unavailable; serving the last activated bundle from disk");
  };
  if (settings.bundleUrl) {
    const url = settings.bundleUrl;
    const http = new HttpBundleSource({
      url,
      onBundle,
      logger,
      ...(settings.bundleTokenFile ? { token: () => readTokenFile(settings.bundleTokenFile!, "bundleTokenFile") } : {}),
      ...(settings.bundleCaFile ? { caFile: settings.bundleCaFile } : {}),
      minDelayMs: settings.bundlePollMinSeconds * 1000,
      maxDelayMs: settings.bundlePollMaxSeconds * 1000,
      ...(settings.bundleLongPollSeconds ? { longPollingTimeoutSeconds: settings.bundleLongPollSeconds } : {}),
      ...(settings.bundleStateDir ? { stateDir: settings.bundleStateDir } : {}),
    });
    return {
      origin: { kind: "bundle-server", url },
      start: async () => {
        const result = await http.start();
        if (result.origin === "none") logger.error({ event: "policy_rejected", error: result.error, source: `bundle:${url}` }, "no bundle could be loaded; not serving until one arrives");
      },
      settled: async () => undefined,
      close: () => http.stop(),
    };
  }
  const file = new FileBundleSource({ file: settings.bundleFile!, onBundle, logger });
  return {
    origin: { kind: "bundle-file", path: path.resolve(settings.bundleFile!) },
    start: async () => {
      await file.load().catch(() => undefined);
      if (settings.watch) await file.watch();
    },
    settled: () => file.settled(),
    close: () => file.close(),
  };
}
