import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readBundleArchive } from "../../src/bundle/read.js";
import { loadVerificationKey } from "../../src/bundle/verification-key.js";
import { checkBundleSignatures, verifyBundleSignatures, type BundleVerificationConfig, type SignatureFailureReason } from "../../src/bundle/verify.js";
import { TollgateError } from "../../src/errors.js";
import { ecKeys, ed25519Keys, hmacSecret, opaBuild, POLICY, rsaKeys, tempDir, writeTree, type KeyPair } from "./support/opa.js";
import { repack } from "./support/tar.js";

let dir: string;
let keys: string;
let rsa: KeyPair;
let otherRsa: KeyPair;
/** Signed by the real opa with a claims file: keyid "k1" claim, scope "prod", no kid header. */
let signed: Buffer;
/** Signed without claims: kid header "k1" and keyid claim "k1", no scope. */
let signedKid: Buffer;
let unsigned: Buffer;

const cfg = (overrides: Partial<BundleVerificationConfig> = {}, key = () => rsa.publicPem): BundleVerificationConfig => ({
  keys: { k1: { key: key(), algorithm: "RS256", scope: "" } },
  scope: "prod",
  ...overrides,
});

function check(bytes: Buffer, config: BundleVerificationConfig | undefined) {
  return checkBundleSignatures(readBundleArchive(bytes), config);
}

function signaturesOf(bytes: Buffer): string[] {
  let sigs: string[] = [];
  repack(bytes, (files) => {
    sigs = (JSON.parse((files.get("/.signatures.json") as Buffer).toString()) as { signatures: string[] }).signatures;
  });
  return sigs;
}

function withSignatures(bytes: Buffer, doc: unknown, name = "/.signatures.json"): Buffer {
  return repack(bytes, (files) => files.set(name, Buffer.from(JSON.stringify(doc))));
}

beforeAll(() => {
  dir = writeTree(POLICY);
  keys = tempDir("tg-keys-");
  rsa = rsaKeys(keys, "rsa");
  otherRsa = rsaKeys(keys, "other");
  signed = opaBuild(dir, { signingKey: rsa.privateFile, keyId: "k1", claims: { keyid: "k1", scope: "prod" }, revision: "r1" });
  signedKid = opaBuild(dir, { signingKey: rsa.privateFile, keyId: "k1", revision: "r1" });
  unsigned = opaBuild(dir, { revision: "r1" });
});

describe("bundle signatures made by the real `opa build --signing-key`", () => {
  it("a valid bundle verifies: key id from the keyid claim, scope matched, every file's hash checked in archive order", () => {
    expect(check(signed, cfg())).toEqual({
      ok: true,
      verified: true,
      keyId: "k1",
      scope: "prod",
      files: ["data.json", "envoy/authz.rego", "policy.wasm", ".manifest"],
      excluded: [],
    });
  });

  it("the kid header names the key when the config names none", () => {
    const result = check(signedKid, cfg({ scope: "" }));
    expect(result).toMatchObject({ ok: true, keyId: "k1", scope: "" });
  });

  it("a configured keyId wins over whatever the token names", () => {
    const result = check(signed, { keys: { mine: { key: rsa.publicPem, algorithm: "RS256", scope: "" } }, keyId: "mine", scope: "prod" });
    expect(result).toMatchObject({ ok: true, keyId: "mine" });
  });

  it("the key's own scope applies when the config sets none", () => {
    const result = check(signed, { keys: { k1: { key: rsa.publicPem, algorithm: "RS256", scope: "prod" } } });
    expect(result).toMatchObject({ ok: true, scope: "prod" });
  });

  it("data.json is hashed over canonical JSON: reformatted but equal data still verifies", () => {
    const reformatted = repack(signed, (files) => files.set("/data.json", Buffer.from('{\n  "users" : { "admin" : "alice" }\n}\n')));
    expect(check(reformatted, cfg())).toMatchObject({ ok: true });
  });

  type Case = [string, SignatureFailureReason, () => Buffer, () => BundleVerificationConfig | undefined, RegExp];
  const cases: Case[] = [
    [
      "bad signature (one signature byte flipped)",
      "bad_signature",
      () => {
        const [h, p, s] = (signaturesOf(signed)[0] as string).split(".") as [string, string, string];
        const sig = Buffer.from(s, "base64url");
        sig[10] = (sig[10] as number) ^ 0xff;
        return withSignatures(signed, { signatures: [`${h}.${p}.${sig.toString("base64url")}`] });
      },
      () => cfg(),
      /^bundle signature: failed to verify JWT signature with key k1 \(RS256\)$/,
    ],
    ["wrong key", "bad_signature", () => signed, () => cfg({}, () => otherRsa.publicPem), /failed to verify JWT signature with key k1/],
    ["tampered policy.wasm", "hash_mismatch", () => repack(signed, (f) => f.set("/policy.wasm", Buffer.concat([f.get("/policy.wasm") as Buffer, Buffer.from([0])]))), () => cfg(), /^bundle signature: file policy\.wasm hash mismatch \(want [0-9a-f]{64}, got [0-9a-f]{64}\)$/],
    ["tampered data.json", "hash_mismatch", () => repack(signed, (f) => f.set("/data.json", Buffer.from('{"users":{"admin":"mallory"}}'))), () => cfg(), /^bundle signature: file data\.json hash mismatch/],
    ["data.json that is no longer JSON", "hash_mismatch", () => repack(signed, (f) => f.set("/data.json", Buffer.from('{"users":'))), () => cfg(), /file data\.json: invalid JSON at byte 9/],
    ["tampered .manifest", "hash_mismatch", () => repack(signed, (f) => f.set("/.manifest", Buffer.from('{"revision":"r2","roots":[""]}'))), () => cfg(), /file \.manifest hash mismatch/],
    ["extra file", "file_not_signed", () => repack(signed, (f) => f.set("/notes.txt", Buffer.from("hi"))), () => cfg(), /^bundle signature: file notes\.txt not included in bundle signature$/],
    ["signed file missing", "file_missing", () => repack(signed, (f) => f.delete("/envoy/authz.rego")), () => cfg(), /file\(s\) \[envoy\/authz\.rego\] specified in bundle signatures but not found in the target bundle/],
    ["wrong scope", "scope_mismatch", () => signed, () => cfg({ scope: "staging" }), /^bundle signature: scope mismatch \(bundle signed for "prod", expected "staging"\)$/],
    ["scope required but not signed for", "scope_mismatch", () => signedKid, () => cfg(), /bundle signed for "", expected "prod"/],
    ["unsigned while verification is required", "unsigned", () => unsigned, () => cfg(), /^bundle signature: bundle missing \.signatures\.json file$/],
    ["signed but no verification configured (OPA refuses too)", "no_verification_key", () => signed, () => undefined, /no verification key is configured/],
    ["key id not configured", "unknown_key", () => signed, () => ({ keys: { other: { key: rsa.publicPem, algorithm: "RS256", scope: "" } }, scope: "prod" }), /verification key corresponding to ID k1 not found/],
    ["no key id in config, header or claims", "unknown_key", () => opaBuild(dir, { signingKey: rsa.privateFile, claims: { scope: "prod" } }), () => cfg(), /^bundle signature: verification key ID is empty$/],
    ["key material that is not PEM", "key_error", () => signed, () => cfg({}, () => "not a key"), /failed to parse PEM block containing the key/],
    ["two JWTs", "malformed", () => withSignatures(signed, { signatures: [signaturesOf(signed)[0], signaturesOf(signed)[0]] }), () => cfg(), /multiple JWTs not supported \(expected exactly one\)/],
    ["an empty JWT list", "malformed", () => withSignatures(signed, { signatures: [] }), () => cfg(), /missing JWT \(expected exactly one\)/],
    ["a token that is not compact JWS", "malformed", () => withSignatures(signed, { signatures: ["a.b"] }), () => cfg(), /failed to split compact JWT/],
    ["an unknown verifier plugin", "malformed", () => withSignatures(signed, { signatures: signaturesOf(signed), plugin: "kms" }), () => cfg(), /no verifier exists under id kms/],
    ["a second signatures file", "malformed", () => repack(signed, (f) => f.set("/sub/.signatures.json", f.get("/.signatures.json") as Buffer)), () => cfg(), /bundle contains multiple signatures files/],
    ["signatures file that is not JSON", "malformed", () => repack(signed, (f) => f.set("/.signatures.json", Buffer.from("{"))), () => cfg(), /signatures decode: invalid JSON/],
  ];

  it.each(cases)("%s – refused with reason %s", (_name, reason, bytes, config, message) => {
    const result = check(bytes(), config());
    expect(result).toMatchObject({ ok: false, reason });
    expect(!result.ok && result.message).toMatch(message);
  });

  it("verifyBundleSignatures throws a TollgateError policy_build_error carrying the reason", () => {
    const archive = readBundleArchive(repack(signed, (f) => f.set("/notes.txt", Buffer.from("hi"))));
    let caught: unknown;
    try {
      verifyBundleSignatures(archive, cfg());
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).code).toBe("policy_build_error");
    expect((caught as TollgateError).message).toBe("bundle signature: file notes.txt not included in bundle signature");
    expect((caught as TollgateError).cause).toEqual({ reason: "file_not_signed" });
  });

  it("unsigned bundles pass unverified when no verification is configured", () => {
    expect(check(unsigned, undefined)).toEqual({ ok: true, verified: false, keyId: undefined, scope: undefined, files: [], excluded: [] });
  });
});

describe("exclude_files (Go filepath.Match patterns)", () => {
  it.each([
    ["an extra file matched by *.txt", (f: Map<string, Buffer>) => f.set("/notes.txt", Buffer.from("hi")), ["*.txt"], ["notes.txt"]],
    ["a tampered module under envoy/*", (f: Map<string, Buffer>) => f.set("/envoy/authz.rego", Buffer.from("package envoy.authz\n")), ["envoy/*"], ["envoy/authz.rego"]],
    ["a signed file excluded while present", () => undefined, ["policy.wasm"], ["policy.wasm"]],
  ])("%s – accepted and listed as excluded", (_name, edit, patterns, excluded) => {
    const result = check(repack(signed, edit), cfg({ excludeFiles: patterns }));
    expect(result).toMatchObject({ ok: true, excluded });
  });

  it("* does not cross a /: an extra file one folder down is still refused", () => {
    const result = check(repack(signed, (f) => f.set("/docs/notes.txt", Buffer.from("hi"))), cfg({ excludeFiles: ["*.txt"] }));
    expect(result).toMatchObject({ ok: false, reason: "file_not_signed" });
  });

  it("a malformed pattern excludes nothing", () => {
    const result = check(repack(signed, (f) => f.set("/notes.txt", Buffer.from("hi"))), cfg({ excludeFiles: ["[notes.txt"] }));
    expect(result).toMatchObject({ ok: false, reason: "file_not_signed" });
  });
});

describe("algorithms: each signed by the real opa, each refused with a different key of the same kind", () => {
  const kinds: [string, (d: string) => KeyPair, (d: string) => KeyPair][] = [
    ["RS256", (d) => rsaKeys(d, "a"), (d) => rsaKeys(d, "b")],
    ["RS512", (d) => rsaKeys(d, "a"), (d) => rsaKeys(d, "b")],
    ["PS256", (d) => rsaKeys(d, "a"), (d) => rsaKeys(d, "b")],
    ["PS384", (d) => rsaKeys(d, "a"), (d) => rsaKeys(d, "b")],
    ["ES256", (d) => ecKeys(d, "prime256v1", "a"), (d) => ecKeys(d, "prime256v1", "b")],
    ["ES384", (d) => ecKeys(d, "secp384r1", "a"), (d) => ecKeys(d, "secp384r1", "b")],
    ["ES512", (d) => ecKeys(d, "secp521r1", "a"), (d) => ecKeys(d, "secp521r1", "b")],
    ["HS256", (d) => hmacSecret(d), () => hmacSecret(tempDir())],
    ["HS512", (d) => hmacSecret(d), () => hmacSecret(tempDir())],
    ["EdDSA", (d) => ed25519Keys(d), () => ed25519Keys(tempDir())],
  ];

  it.each(kinds)("%s", (alg, makeKey, makeOther) => {
    const d = tempDir("tg-alg-");
    const key = makeKey(d);
    const bytes = opaBuild(dir, { signingKey: key.privateFile, alg, keyId: "k" });
    const verification = (pem: string): BundleVerificationConfig => ({ keys: { k: { key: pem, algorithm: alg, scope: "" } } });
    expect(check(bytes, verification(loadVerificationKey(key.publicFile, { algorithm: alg }).key))).toMatchObject({ ok: true, keyId: "k" });
    expect(check(bytes, verification(makeOther(d).publicPem))).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("RSA keys verify as PKCS#1 public keys, certificates and private keys too (OPA's accepted PEM forms)", () => {
    const d = tempDir("tg-forms-");
    const pkcs1 = path.join(d, "pkcs1.pem");
    execFileSync("openssl", ["rsa", "-in", rsa.privateFile, "-RSAPublicKey_out", "-out", pkcs1], { stdio: "ignore" });
    const cert = path.join(d, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-key", rsa.privateFile, "-subj", "/CN=bundles", "-days", "1", "-out", cert], { stdio: "ignore" });
    for (const file of [pkcs1, cert, rsa.privateFile]) {
      expect(check(signed, cfg({}, () => loadVerificationKey(file).key))).toMatchObject({ ok: true });
    }
  });
});

describe("verification keys from files", () => {
  it.each([
    ["a missing file", () => "/nonexistent/key.pem", "RS256", /verification key \/nonexistent\/key\.pem: ENOENT/],
    ["text that is not PEM", () => writeKey("hello"), "RS256", /failed to parse PEM block containing the key/],
    ["an unknown algorithm", () => rsa.publicFile, "XS256", /unknown signature algorithm: XS256/],
    ["a PEM type OPA does not read", () => writeKey("-----BEGIN DSA PARAMETERS-----\nAAAA\n-----END DSA PARAMETERS-----\n"), "RS256", /unsupported PEM block type DSA PARAMETERS/],
    [
      "an RSA key under 1024 bits",
      () => writeKey(generateKeyPairSync("rsa", { modulusLength: 768 }).publicKey.export({ type: "spki", format: "pem" }) as string),
      "RS256",
      /RSA key of 768 bits is below the 1024-bit minimum/,
    ],
  ])("%s – config_error naming the file", (_name, file, alg, message) => {
    let caught: unknown;
    try {
      loadVerificationKey(file(), { algorithm: alg });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).code).toBe("config_error");
    expect((caught as TollgateError).message).toMatch(message);
  });
});

function writeKey(text: string): string {
  const file = path.join(tempDir("tg-key-"), "key.pem");
  writeFileSync(file, text);
  return file;
}
