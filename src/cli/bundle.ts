import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { buildBundle, DEFAULT_KEY_ID } from "../policy/build-bundle.js";
import { loadBundle, type LoadedBundle } from "../bundle/load.js";
import { DEFAULT_SIGNING_ALGORITHM, loadVerificationKey } from "../bundle/verification-key.js";
import { settingsSchema } from "../config/settings.js";
import { TollgateError } from "../errors.js";
import { createHostBuiltins } from "../policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../policy/wasm/wasm-engine.js";

const DEFAULT_DECISION_PATH = "envoy/authz/allow";

interface BuildFlags {
  output: string;
  decisionPath: string;
  signingKey?: string;
  signingAlg: string;
  keyId?: string;
  scope?: string;
  revision?: string;
  tests: boolean;
}

interface VerifyFlags {
  verificationKey: string;
  signingAlg: string;
  keyId: string;
  scope?: string;
  excludeFiles: string[];
  decisionPath: string;
}

function decisionPath(value: string): string {
  const parsed = settingsSchema.shape.decisionPath.safeParse(value);
  if (!parsed.success) throw new TollgateError("config_error", `invalid decision path ${JSON.stringify(value)}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return value;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(",").map((s) => s.trim()).filter(Boolean)];
}

function summary(loaded: LoadedBundle): Record<string, unknown> {
  return {
    revision: loaded.built.revision,
    digest: loaded.digest,
    size: loaded.size,
    entrypoint: loaded.built.entrypoint,
    wasm_entrypoints: loaded.manifest.wasm.map((w) => w.entrypoint),
    roots: loaded.manifest.roots,
    signed: loaded.signature.verified,
    key_id: loaded.signature.keyId,
    scope: loaded.signature.scope,
    files: loaded.signature.verified ? loaded.signature.files : undefined,
    excluded: loaded.signature.excluded.length > 0 ? loaded.signature.excluded : undefined,
  };
}

/** The bundle must also load into the WASM engine and expose the decision entrypoint. */
function checkLoads(loaded: LoadedBundle): void {
  new WasmPolicyEngine(loaded.built, createHostBuiltins());
}

/** `tollgate bundle build|verify`: OPA bundles as the signed, shippable form of a policies folder. */
export function registerBundle(program: Command): void {
  const bundle = program.command("bundle").description("build, sign and verify OPA bundles (policy.wasm + data.json + .manifest)");
  bundle
    .command("build <policies-dir>")
    .description("compile a policies folder with `opa build -t wasm -b` (after its tests) and optionally sign it")
    .requiredOption("-o, --output <file>", "bundle file to write (.tar.gz)")
    .option("--decision-path <path>", "decision rule path (the wasm entrypoint)", DEFAULT_DECISION_PATH)
    .option("--signing-key <file>", "private key PEM (or, for HS*, the shared secret file) to sign with")
    .option("--signing-alg <alg>", "RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|HS256|HS384|HS512|EdDSA", DEFAULT_SIGNING_ALGORITHM)
    .option("--key-id <id>", `key id written into the signature (default ${DEFAULT_KEY_ID})`)
    .option("--scope <scope>", "scope claim written into the signature")
    .option("--revision <revision>", "manifest revision (default: content hash of the folder)")
    .option("--no-tests", "skip opa test")
    .action(async (dir: string, flags: BuildFlags) => {
      if (!flags.signingKey && (flags.keyId !== undefined || flags.scope !== undefined)) {
        throw new TollgateError("config_error", "--key-id and --scope need --signing-key");
      }
      const result = await buildBundle({
        dir,
        output: flags.output,
        decisionPath: decisionPath(flags.decisionPath),
        ...(flags.revision === undefined ? {} : { revision: flags.revision }),
        ...(flags.signingKey
          ? { signing: { keyFile: flags.signingKey, algorithm: flags.signingAlg, ...(flags.keyId === undefined ? {} : { keyId: flags.keyId }), ...(flags.scope === undefined ? {} : { scope: flags.scope }) } }
          : {}),
        runTests: flags.tests,
      });
      checkLoads(result.loaded);
      process.stdout.write(`${JSON.stringify({ output: flags.output, tests_run: result.testsRun, ...summary(result.loaded) })}\n`);
    });
  bundle
    .command("verify <bundle>")
    .description("check a bundle's signature, manifest and decision entrypoint the way `tollgate serve` would")
    .requiredOption("--verification-key <file>", "public key PEM (or, for HS*, the shared secret file)")
    .option("--signing-alg <alg>", "algorithm the key verifies", DEFAULT_SIGNING_ALGORITHM)
    .option("--key-id <id>", "name of the key; used whatever key id the bundle names, as opa does", DEFAULT_KEY_ID)
    .option("--scope <scope>", "required scope claim")
    .option("--exclude-files <patterns>", "files (glob, comma-separated, repeatable) left out of the hash check", collect, [] as string[])
    .option("--decision-path <path>", "decision rule path the bundle must serve", DEFAULT_DECISION_PATH)
    .action((file: string, flags: VerifyFlags) => {
      const key = loadVerificationKey(flags.verificationKey, { algorithm: flags.signingAlg, ...(flags.scope === undefined ? {} : { scope: flags.scope }) });
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        throw new TollgateError("config_error", `bundle ${file}: ${(err as Error).message}`, { cause: err });
      }
      const loaded = loadBundle(bytes, {
        decisionPath: decisionPath(flags.decisionPath),
        verification: { keys: { [flags.keyId]: key }, keyId: flags.keyId, scope: flags.scope ?? "", excludeFiles: flags.excludeFiles },
      });
      checkLoads(loaded);
      process.stdout.write(`${JSON.stringify({ bundle: file, ok: true, ...summary(loaded) })}\n`);
    });
}
