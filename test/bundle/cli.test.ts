import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadBundle } from "../../src/bundle/load.js";
import { registerBundle } from "../../src/cli/bundle.js";
import { TollgateError } from "../../src/errors.js";
import { hmacSecret, POLICY, rsaKeys, tempDir, writeTree, type KeyPair } from "./support/opa.js";
import { repack } from "./support/tar.js";

const TESTED = { ...POLICY, "envoy/authz_test.rego": 'package envoy.authz\n\ntest_alice if allow with input as {"user": "alice"}\n' };

/** Runs `tollgate bundle ...` in-process and returns the JSON line it printed. */
async function run(...args: string[]): Promise<Record<string, unknown>> {
  const program = new Command("tollgate").exitOverride();
  registerBundle(program);
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  try {
    await program.parseAsync(["bundle", ...args], { from: "user" });
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(out.join("")) as Record<string, unknown>;
}

async function refused(...args: string[]): Promise<TollgateError> {
  try {
    await run(...args);
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError);
    return err as TollgateError;
  }
  throw new Error("expected the command to fail");
}

let keys: string;
let rsa: KeyPair;
let other: KeyPair;
let dir: string;
let signed: string;

beforeAll(async () => {
  keys = tempDir("tg-keys-");
  rsa = rsaKeys(keys, "rsa");
  other = rsaKeys(keys, "other");
  dir = writeTree(TESTED);
  signed = path.join(tempDir("tg-out-"), "signed.tar.gz");
  await run("build", dir, "-o", signed, "--signing-key", rsa.privateFile, "--key-id", "ci", "--scope", "prod", "--revision", "v1");
});

afterEach(() => vi.restoreAllMocks());

describe("tollgate bundle build", () => {
  it("runs the folder's tests, builds with opa, signs, and reports what tollgate's own loader read back", async () => {
    const out = path.join(tempDir("tg-out-"), "b.tar.gz");
    const summary = await run("build", dir, "-o", out, "--signing-key", rsa.privateFile, "--key-id", "ci", "--scope", "prod", "--revision", "v1");
    expect(summary).toMatchObject({
      output: out,
      tests_run: true,
      revision: "v1",
      entrypoint: "envoy/authz/allow",
      wasm_entrypoints: ["envoy/authz/allow"],
      roots: [""],
      signed: true,
      key_id: "ci",
      scope: "prod",
      files: ["data.json", "envoy/authz.rego", "policy.wasm", ".manifest"],
    });
    const loaded = loadBundle(readFileSync(out), { decisionPath: "envoy/authz/allow", verification: { keys: { ci: { key: rsa.publicPem, algorithm: "RS256", scope: "" } }, scope: "prod" } });
    expect(loaded.built.data).toEqual({ users: { admin: "alice" } });
  });

  it("unsigned, with the folder's content hash as revision by default, and --no-tests", async () => {
    const out = path.join(tempDir("tg-out-"), "b.tar.gz");
    const summary = await run("build", dir, "-o", out, "--no-tests");
    expect(summary).toMatchObject({ tests_run: false, signed: false });
    expect(Object.keys(summary)).not.toContain("key_id");
    expect(summary["revision"]).toMatch(/^[0-9a-f]{16}$/);
  });

  it("HS256 with a shared-secret file signs and verifies", async () => {
    const secret = hmacSecret(tempDir());
    const out = path.join(tempDir("tg-out-"), "b.tar.gz");
    expect(await run("build", dir, "-o", out, "--signing-key", secret.privateFile, "--signing-alg", "HS256")).toMatchObject({ signed: true, key_id: "default" });
    expect(await run("verify", out, "--verification-key", secret.publicFile, "--signing-alg", "HS256")).toMatchObject({ ok: true, signed: true });
  });

  it.each([
    ["--scope without --signing-key", ["--scope", "prod"], "config_error", /--key-id and --scope need --signing-key/],
    ["an unknown algorithm", ["--signing-key", "k.pem", "--signing-alg", "RS1"], "config_error", /unknown signing algorithm RS1/],
    ["an invalid decision path", ["--decision-path", "envoy//allow"], "config_error", /invalid decision path "envoy\/\/allow"/],
    ["a decision path the policies do not define", ["--decision-path", "envoy/authz/nope"], "policy_build_error", /^opa build: /],
  ])("%s – refused", async (_name, extra, code, message) => {
    const e = await refused("build", dir, "-o", path.join(tempDir(), "x.tar.gz"), ...extra);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it("a failing policy test stops the build before anything is written", async () => {
    const failing = writeTree({ ...POLICY, "envoy/authz_test.rego": 'package envoy.authz\n\ntest_bob if allow with input as {"user": "bob"}\n' });
    const out = path.join(tempDir(), "x.tar.gz");
    const e = await refused("build", failing, "-o", out);
    expect(e.message).toMatch(/^opa test: .*test_bob/s);
    expect(existsSync(out)).toBe(false);
  });

  it("a missing policies folder is a config error", async () => {
    expect((await refused("build", "/nonexistent/policies", "-o", "/tmp/x.tar.gz")).code).toBe("config_error");
  });
});

describe("tollgate bundle verify", () => {
  it("a good bundle: ok, with its revision, key and verified files", async () => {
    expect(await run("verify", signed, "--verification-key", rsa.publicFile, "--scope", "prod")).toMatchObject({
      bundle: signed,
      ok: true,
      revision: "v1",
      signed: true,
      key_id: "default",
      scope: "prod",
      files: ["data.json", "envoy/authz.rego", "policy.wasm", ".manifest"],
    });
  });

  it("--exclude-files (comma-separated and repeatable) skips those files' hashes", async () => {
    const tampered = path.join(tempDir(), "t.tar.gz");
    writeFileSync(tampered, repack(readFileSync(signed), (f) => {
      f.set("/envoy/authz.rego", Buffer.from("package envoy.authz\n"));
      f.set("/README.md", Buffer.from("hi"));
    }));
    const summary = await run("verify", tampered, "--verification-key", rsa.publicFile, "--scope", "prod", "--exclude-files", "envoy/*", "--exclude-files", "*.md,unused");
    expect(summary).toMatchObject({ ok: true, excluded: ["envoy/authz.rego", "README.md"], files: ["data.json", "policy.wasm", ".manifest"] });
  });

  it.each([
    ["the wrong scope", () => signed, () => ["--scope", "dev"], /^bundle signature: scope mismatch \(bundle signed for "prod", expected "dev"\)$/],
    ["no scope although it was signed for one", () => signed, () => [], /^bundle signature: scope mismatch/],
    ["the wrong key", () => signed, () => ["--scope", "prod", "--verification-key", other.publicFile], /^bundle signature: failed to verify JWT signature with key default \(RS256\)$/],
    ["a tampered policy.wasm", () => tamper((f) => f.set("/policy.wasm", Buffer.concat([f.get("/policy.wasm") as Buffer, Buffer.from("x")]))), () => ["--scope", "prod"], /^bundle signature: file policy\.wasm hash mismatch/],
    ["a tampered data.json", () => tamper((f) => f.set("/data.json", Buffer.from('{"users":{"admin":"eve"}}'))), () => ["--scope", "prod"], /^bundle signature: file data\.json hash mismatch/],
    ["an extra file", () => tamper((f) => f.set("/extra.rego", Buffer.from("package x\n"))), () => ["--scope", "prod"], /^bundle signature: file extra\.rego not included in bundle signature$/],
    ["an unsigned bundle", () => tamper((f) => f.delete("/.signatures.json")), () => ["--scope", "prod"], /^bundle signature: bundle missing \.signatures\.json file$/],
    ["another decision path", () => signed, () => ["--scope", "prod", "--decision-path", "envoy/authz/deny"], /no wasm entrypoint envoy\/authz\/deny/],
  ])("%s – refused with the precise reason", async (_name, file, extra, message) => {
    const args = extra();
    const key = args.includes("--verification-key") ? [] : ["--verification-key", rsa.publicFile];
    const e = await refused("verify", file(), ...key, ...args);
    expect(e.code).toBe("policy_build_error");
    expect(e.message).toMatch(message);
  });

  it.each([
    ["a missing bundle file", () => ["verify", "/nonexistent/b.tar.gz", "--verification-key", rsa.publicFile], /bundle \/nonexistent\/b\.tar\.gz: ENOENT/],
    ["a key file that is not PEM", () => ["verify", signed, "--verification-key", writeTree({ "k.pem": "nope" }) + "/k.pem"], /failed to parse PEM block containing the key/],
  ])("%s – config error", async (_name, args, message) => {
    const e = await refused(...args());
    expect(e.code).toBe("config_error");
    expect(e.message).toMatch(message);
  });
});

function tamper(edit: (files: Map<string, Buffer>) => void): string {
  const file = path.join(tempDir(), "t.tar.gz");
  writeFileSync(file, repack(readFileSync(signed), edit));
  return file;
}
