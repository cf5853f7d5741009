import { beforeAll, describe, expect, it } from "vitest";
import { goCanonicalJson } from "../../src/bundle/go-canonical-json.js";
import { readBundleArchive } from "../../src/bundle/read.js";
import { checkBundleSignatures, type BundleVerificationConfig } from "../../src/bundle/verify.js";
import { TollgateError } from "../../src/errors.js";
import { opaBuild, rsaKeys, tempDir, writeTree, type KeyPair } from "./support/opa.js";
import { repack } from "./support/tar.js";

const canon = (text: string | Buffer) => goCanonicalJson(Buffer.from(text)).toString("utf8");

describe("canonical JSON (OPA's bundle hash input)", () => {
  it.each([
    ["keys sorted bytewise, whitespace dropped", '{ "b" : 1 , "a" : { "d" : [ 1 , 2 ] , "c" : null } }', '{"a":{"c":null,"d":[1,2]},"b":1}'],
    ["number literals kept exactly as written", "[1.50, 1e2, -0, 0.10, 1E+2]", "[1.50,1e2,-0,0.10,1E+2]"],
    ["no HTML escaping; U+2028/2029 escaped", '["<&>", "a\u2028b\u2029c"]', '["<&>","a\\u2028b\\u2029c"]'],
    ["\\u escapes decoded, then Go's short escapes", '["\\u003c\\u0041", "\\u0001\\b\\f\\n\\r\\t\\/\\"\\\\"]', '["<A","\\u0001\\b\\f\\n\\r\\t/\\"\\\\"]'],
    ["DEL and non-ASCII stay raw", '["\u007f", "é", "😀", "\\ud83d\\ude00"]', '["\u007f","é","😀","😀"]'],
    ["a lone surrogate escape becomes U+FFFD", '["\\ud800x", "\\udc00"]', '["\ufffdx","\ufffd"]'],
    ["repeated keys keep the last value", '{"a":1,"a":2}', '{"a":2}'],
    ["uppercase sorts before lowercase, ASCII before multi-byte", '{"b":0,"é":0,"B":0,"a":0}', '{"B":0,"a":0,"b":0,"é":0}'],
    ["scalars at the top level", ' "x" ', '"x"'],
    ["a UTF-8 BOM is skipped", "\ufeff{}", "{}"],
  ])("%s", (_name, input, expected) => {
    expect(canon(input)).toBe(expected);
  });

  it("invalid UTF-8 bytes each become U+FFFD, as Go's decoder does", () => {
    const input = Buffer.concat([Buffer.from('["a'), Buffer.from([0xff, 0xe2, 0x82]), Buffer.from('b"]')]);
    expect(canon(input)).toBe('["a\ufffd\ufffd\ufffdb"]');
  });

  it("nesting up to Go's limit of 10000 is fine, one more is an error (no stack overflow)", () => {
    expect(canon(`${"[".repeat(10_000)}${"]".repeat(10_000)}`)).toHaveLength(20_000);
    expect(() => canon(`${"[".repeat(10_001)}${"]".repeat(10_001)}`)).toThrow(/exceeded max depth/);
  });

  it.each([
    ["", /byte 0: unexpected end of input/],
    ["[1,]", /byte 3: invalid character/],
    ['{"a" 1}', /byte 5: expected ':'/],
    ["[01]", /byte 2: expected ',' or ']'/],
    ['"\\x"', /byte 1: invalid escape/],
    ['"a\nb"', /byte 2: control character in string/],
    ['{"a":1} x', /byte 8: unexpected data after the top-level value/],
    ["nul", /byte 0: invalid character/],
    ['"abc', /unterminated string/],
  ])("%j – TollgateError naming the byte offset", (input, message) => {
    let caught: unknown;
    try {
      canon(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).message).toMatch(message);
  });
});

describe("canonical JSON against the real opa signer", () => {
  let key: KeyPair;
  let signed: Buffer;
  const config = (): BundleVerificationConfig => ({ keys: { default: { key: key.publicPem, algorithm: "RS256", scope: "" } } });
  const check = (bytes: Buffer) => checkBundleSignatures(readBundleArchive(bytes), config());

  beforeAll(() => {
    key = rsaKeys(tempDir("tg-keys-"));
    const dir = writeTree({
      "envoy/authz.rego": "package envoy.authz\n\nallow := true\n",
      "users/data.json": '{"z":1.50,"a":[1e2,-0,0.10],"\\u00e9":"x\\u2028y<&>","ctl":"\\u0001\\b\\f\\u007f","emoji":"\\ud83d\\ude00","B":{"b":null,"a":true}}',
    });
    signed = opaBuild(dir, { signingKey: key.privateFile });
  });

  it("tricky data (number literals, escapes, non-ASCII keys) hashes exactly as opa signed it", () => {
    expect(check(signed)).toMatchObject({ ok: true, files: ["data.json", "envoy/authz.rego", "policy.wasm", ".manifest"] });
  });

  it("the same data rewritten with other spacing, key order and escapes still verifies", () => {
    const same = '{ "users": { "emoji": "😀", "é": "x\\u2028y\\u003c&>", "a": [ 1e2, -0, 0.10 ], "B": {"a": true, "b": null}, "ctl": "\\u0001\\u0008\\u000c\u007f", "z": 1.50 } }';
    expect(check(repack(signed, (f) => f.set("/data.json", Buffer.from(same))))).toMatchObject({ ok: true });
  });

  it("1.50 rewritten as 1.5 is a different document to OPA: hash mismatch", () => {
    const tampered = repack(signed, (f) => f.set("/data.json", Buffer.from((f.get("/data.json") as Buffer).toString().replace("1.50", "1.5"))));
    expect(check(tampered)).toMatchObject({ ok: false, reason: "hash_mismatch" });
  });
});
