import { beforeAll, describe, expect, it } from "vitest";
import { bundleToBuiltPolicy, packagePath } from "../../src/bundle/built-policy.js";
import { loadBundle } from "../../src/bundle/load.js";
import { parseManifest } from "../../src/bundle/manifest.js";
import { readBundleArchive } from "../../src/bundle/read.js";
import { TollgateError } from "../../src/errors.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { opaBuild, POLICY, rsaKeys, tempDir, writeTree } from "./support/opa.js";
import { tarGz, unpack, type TarEntry } from "./support/tar.js";

const DECISION = "envoy/authz/allow";
const MANIFEST = JSON.stringify({ revision: "r1", roots: [""], wasm: [{ entrypoint: DECISION, module: "/policy.wasm" }] });

let real: Buffer;
let wasm: Buffer;

function fail(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).code).toBe("policy_build_error");
    return (err as TollgateError).message;
  }
  throw new Error("expected an error");
}

/** A hand-made bundle around the real policy.wasm. */
function bundle(entries: Record<string, string | Buffer>, manifest: string | undefined = MANIFEST): Buffer {
  const list: TarEntry[] = [{ name: "/policy.wasm", content: wasm }];
  for (const [name, content] of Object.entries(entries)) list.push({ name, content });
  if (manifest !== undefined) list.push({ name: "/.manifest", content: manifest });
  return tarGz(list);
}

const build = (bytes: Buffer, decisionPath = DECISION) => bundleToBuiltPolicy(readBundleArchive(bytes), { decisionPath });

beforeAll(() => {
  real = opaBuild(writeTree(POLICY), { revision: "r1" });
  wasm = new Map(unpack(real)).get("/policy.wasm") as Buffer;
});

describe("parseManifest", () => {
  it.each([
    ["no .manifest: OPA's defaults", undefined, { revision: "", roots: [""], wasm: [], regoVersion: undefined, metadata: undefined }],
    [
      "revision, roots trimmed of slashes, wasm resolvers, rego version, metadata",
      '{"revision":"r9","roots":["/envoy/","users"],"wasm":[{"entrypoint":"envoy/authz/allow","module":"/policy.wasm"}],"rego_version":1,"metadata":{"team":"a"}}',
      { revision: "r9", roots: ["envoy", "users"], wasm: [{ entrypoint: DECISION, module: "/policy.wasm" }], regoVersion: 1, metadata: { team: "a" } },
    ],
    ["field names match case-insensitively, like Go's decoder", '{"Revision":"r2","ROOTS":["a"]}', { revision: "r2", roots: ["a"] }],
    ["null fields keep their defaults; unknown fields are ignored", '{"revision":null,"roots":null,"extra":1}', { revision: "", roots: [""] }],
    ["an empty roots list stays empty", '{"roots":[]}', { roots: [] }],
  ])("%s", (_name, text, expected) => {
    expect(parseManifest(text === undefined ? undefined : Buffer.from(text))).toMatchObject(expected);
  });

  it.each([
    ["not JSON", "{", /^bundle manifest: invalid JSON/],
    ["not an object", "[1]", /^bundle manifest: expected a JSON object$/],
    ["revision not a string", '{"revision":5}', /^bundle manifest: field revision must be a string$/],
    ["roots not strings", '{"roots":[1]}', /^bundle manifest: field roots must hold strings$/],
    ["overlapping roots", '{"roots":["a","a/b"]}', /^bundle manifest: manifest has overlapped roots: 'a' and 'a\/b'$/],
    ["rego_version 2", '{"rego_version":2}', /^bundle manifest: invalid rego version 2$/],
    ["a bad per-file rego version", '{"file_rego_versions":{"x.rego":3}}', /^bundle manifest: invalid rego version 3 for file 'x\.rego'$/],
    ["wasm not a list", '{"wasm":{}}', /^bundle manifest: field wasm must be an array$/],
  ])("%s – refused", (_name, text, message) => {
    expect(fail(() => parseManifest(Buffer.from(text)))).toMatch(message);
  });
});

describe("bundle → BuiltPolicy", () => {
  it("a bundle from the real opa build serves the decision with its data", () => {
    const { built, manifest, revisionSource } = build(real);
    expect(built).toMatchObject({ revision: "r1", entrypoint: DECISION, maskEntrypoint: undefined, testsRun: false, data: { users: { admin: "alice" } } });
    expect(manifest.wasm).toEqual([{ entrypoint: DECISION, module: "/policy.wasm" }]);
    expect(revisionSource).toBe("manifest");
    const engine = new WasmPolicyEngine(built, createHostBuiltins());
    expect(engine.revision).toBe("r1");
    expect(engine.evaluate({ user: "alice" })).toEqual([{ result: true }]);
    expect(engine.evaluate({ user: "bob" })).toEqual([{ result: false }]);
  });

  it("data files merge by their directory paths", () => {
    const bytes = bundle({ "/data.json": '{"a":{"x":1}}', "/a/y/data.json": "2", "/b/data.json": '{"c":true}', "/users/data.json": '{"admin":"carol"}' });
    const { built } = build(bytes);
    expect(built.data).toEqual({ a: { x: 1, y: 2 }, b: { c: true }, users: { admin: "carol" } });
    expect(new WasmPolicyEngine(built, createHostBuiltins()).evaluate({ user: "carol" })).toEqual([{ result: true }]);
  });

  it('a "__proto__" key is plain data and never reaches Object.prototype', () => {
    const { built } = build(bundle({ "/data.json": '{"__proto__":{"x":1}}', "/__proto__/y/data.json": "2" }));
    expect(Object.getOwnPropertyDescriptor(built.data, "__proto__")?.value).toEqual({ x: 1, y: 2 });
    expect(({} as Record<string, unknown>)["y"]).toBeUndefined();
  });

  it("the revision falls back to the archive digest when the manifest names none", () => {
    const bytes = bundle({}, JSON.stringify({ wasm: [{ entrypoint: DECISION, module: "/policy.wasm" }] }));
    const { built, revisionSource } = build(bytes);
    expect(built.revision).toBe(`sha256:${readBundleArchive(bytes).digest.slice(0, 16)}`);
    expect(revisionSource).toBe("digest");
  });

  it("a manifest without wasm resolvers may hold exactly one policy.wasm", () => {
    const { built } = build(bundle({}, undefined));
    expect(built.entrypoint).toBe(DECISION);
    expect(built.wasm.equals(wasm)).toBe(true);
  });

  it("the system/log/mask entrypoint of the same module is picked up", () => {
    const dir = writeTree({ ...POLICY, "system/log.rego": 'package system.log\n\nmask contains "/input/password"\n' });
    const { built } = build(opaBuild(dir, { entrypoints: [DECISION, "system/log/mask"] }));
    expect(built.maskEntrypoint).toBe("system/log/mask");
    expect(new WasmPolicyEngine(built, createHostBuiltins()).evaluateLogMask({})).toEqual([{ result: ["/input/password"] }]);
  });

  it.each([
    ["the decision path is not a wasm entrypoint", () => build(real, "envoy/authz/other"), "bundle: no wasm entrypoint envoy/authz/other (the configured decision path); its manifest lists: envoy/authz/allow"],
    ["no policy.wasm", () => build(tarGz([{ name: "/.manifest", content: '{"revision":"r"}' }])), "bundle: no policy.wasm (build it with `opa build -t wasm`)"],
    ["the manifest names a missing module", () => build(bundle({}, JSON.stringify({ wasm: [{ entrypoint: DECISION, module: "/other.wasm" }] }))), "bundle: manifest references wasm module '/other.wasm' but the module file does not exist"],
    [
      "two modules claim one entrypoint",
      () => build(bundle({ "/b/policy.wasm": wasm }, JSON.stringify({ wasm: [{ entrypoint: DECISION, module: "/policy.wasm" }, { entrypoint: DECISION, module: "/b/policy.wasm" }] }))),
      "bundle: entrypoint 'envoy/authz/allow' cannot be used by more than one wasm module",
    ],
    ["data outside the roots", () => build(bundle({ "/users/data.json": "{}" }, JSON.stringify({ roots: ["envoy"], wasm: [{ entrypoint: DECISION, module: "/policy.wasm" }] }))), "bundle: manifest roots [envoy] do not permit data at path '/users' (hint: check bundle directory structure)"],
    ["a module outside the roots", () => build(bundle({ "/envoy/authz.rego": POLICY["envoy/authz.rego"] }, JSON.stringify({ roots: ["users"] }))), "bundle: manifest roots [users] do not permit 'package envoy.authz' in module 'envoy/authz.rego'"],
    ["an entrypoint outside the roots", () => build(bundle({}, JSON.stringify({ roots: ["users"], wasm: [{ entrypoint: DECISION, module: "/policy.wasm" }] }))), "bundle: manifest roots [users] do not permit 'envoy/authz/allow' entrypoint for wasm module '/policy.wasm'"],
    ["a module without a package", () => build(bundle({ "/x.rego": "# nothing\n" })), "bundle: module x.rego has no package declaration"],
    ["conflicting data files", () => build(bundle({ "/data.json": '{"a":{"x":1}}', "/a/x/data.json": "2" })), "bundle data: a/x/data.json conflicts with other data at /a/x"],
    ["a root data.json that is not an object", () => build(bundle({ "/data.json": "[1]" })), "bundle data: data.json: the root value must be an object"],
    ["a data.json that is not JSON", () => build(bundle({ "/a/data.json": "{x" })), "bundle data a/data.json: invalid JSON"],
    ["a delta bundle", () => build(bundle({ "/patch.json": '{"data":[]}' })), "bundle: delta bundles (patch.json) are not supported"],
    ["YAML data", () => build(bundle({ "/a/data.yaml": "x: 1" })), "bundle: YAML data files (a/data.yaml) are not supported; use data.json"],
    ["a protobuf manifest", () => build(bundle({ "/.manifest.pb": "" })), "bundle: protobuf manifests (.manifest.pb) are not supported"],
    ["two manifests", () => build(bundle({ "/sub/.manifest": "{}" })), 'bundle: multiple manifest files: "sub/.manifest" and ".manifest"'],
  ])("%s – refused", (_name, fn, message) => {
    expect(fail(fn)).toContain(message);
  });

  it("packagePath reads the package line, with comments and bracketed parts", () => {
    expect(packagePath('# package nope\npackage a.b["c.d"].e\n')).toEqual(["a", "b", "c.d", "e"]);
    expect(packagePath("package envoy.authz\n")).toEqual(["envoy", "authz"]);
    expect(packagePath("allow := true\n")).toBeUndefined();
  });
});

describe("loadBundle: read → signature → manifest, in OPA's order", () => {
  it("a signature problem is reported before any manifest problem", () => {
    const key = rsaKeys(tempDir());
    const verification = { keys: { k: { key: key.publicPem, algorithm: "RS256", scope: "" } } };
    expect(fail(() => loadBundle(real, { decisionPath: "envoy/authz/nope", verification }))).toBe("bundle signature: bundle missing .signatures.json file");
  });

  it("skipVerification ignores signatures entirely (OPA's skip_verification)", () => {
    const signed = opaBuild(writeTree(POLICY), { signingKey: rsaKeys(tempDir()).privateFile, revision: "r5" });
    expect(fail(() => loadBundle(signed, { decisionPath: DECISION }))).toMatch(/no verification key is configured/);
    const loaded = loadBundle(signed, { decisionPath: DECISION, skipVerification: true });
    expect(loaded.built.revision).toBe("r5");
    expect(loaded.signature.verified).toBe(false);
  });

  it("limits apply to raw bytes", () => {
    expect(fail(() => loadBundle(real, { decisionPath: DECISION, limits: { maxFiles: 1 } }))).toBe("bundle archive: more than 1 files");
  });
});
