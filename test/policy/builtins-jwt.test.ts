import { beforeAll, describe, expect, it } from "vitest";
import type { TollgateError } from "../../src/errors.js";
import { createHostBuiltins, type TollgateHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { KeyStore } from "../../src/policy/wasm/builtins/jwk.js";
import { LruCache } from "../../src/policy/wasm/builtins/lru.js";
import { generateKeys, jwk, pem, selfSignedCert, signJwt, type Keys } from "./builtins-support.js";

const NOW_S = 1_700_000_000;
const NOW_NS = NOW_S * 1e9;
const SECRET = "hmac-secret-for-tests";
const claims = { sub: "alice", iss: "https://issuer.example", aud: "tollgate", nbf: NOW_S - 60, exp: NOW_S + 300 };

type Call = (...args: unknown[]) => unknown;

function call(host: TollgateHostBuiltins, name: string, ...args: unknown[]): unknown {
  return (host.builtins[name] as Call)(...args);
}

let keys: Keys;
let host: TollgateHostBuiltins;
let errors: { builtin: string; error: TollgateError }[];

beforeAll(() => {
  keys = generateKeys();
});

function freshHost(clockNs = BigInt(NOW_NS)): TollgateHostBuiltins {
  errors = [];
  host = createHostBuiltins({ clock: () => clockNs, onError: (error, builtin) => errors.push({ builtin, error }) });
  host.beginEvaluation();
  return host;
}

describe("io.jwt.decode_verify", () => {
  const families = [
    { alg: "HS256", sign: () => SECRET, verify: () => ({ secret: SECRET }) },
    { alg: "HS512", sign: () => SECRET, verify: () => ({ secret: SECRET }) },
    { alg: "RS256", sign: () => keys.rsa.privateKey, verify: () => ({ cert: pem(keys.rsa.publicKey) }) },
    { alg: "RS384", sign: () => keys.rsa.privateKey, verify: () => ({ cert: pem(keys.rsa.publicKey) }) },
    { alg: "PS256", sign: () => keys.rsa.privateKey, verify: () => ({ cert: pem(keys.rsa.publicKey) }) },
    { alg: "PS512", sign: () => keys.rsa.privateKey, verify: () => ({ cert: pem(keys.rsa.publicKey) }) },
    { alg: "ES256", sign: () => keys.p256.privateKey, verify: () => ({ cert: pem(keys.p256.publicKey) }) },
    { alg: "ES384", sign: () => keys.p384.privateKey, verify: () => ({ cert: pem(keys.p384.publicKey) }) },
    { alg: "ES512", sign: () => keys.p521.privateKey, verify: () => ({ cert: pem(keys.p521.publicKey) }) },
    { alg: "EdDSA", sign: () => keys.ed.privateKey, verify: () => ({ cert: pem(keys.ed.publicKey) }) },
  ];

  it.each(families)("$alg – a correctly signed, current token answers [true, header, payload]", ({ alg, sign, verify }) => {
    freshHost();
    const token = signJwt({ alg, key: sign(), payload: claims });
    expect(call(host, "io.jwt.decode_verify", token, { ...verify(), aud: "tollgate", iss: claims.iss })).toEqual([true, { alg, typ: "JWT" }, claims]);
  });

  it.each(families)("$alg – the same token checked with another key answers [false, {}, {}]", ({ alg, sign }) => {
    freshHost();
    const token = signJwt({ alg, key: sign(), payload: claims });
    const wrong = alg.startsWith("HS") ? { secret: "not-the-secret" } : { cert: pem(alg.startsWith("ES") ? keys.ed.publicKey : keys.rsaOther.publicKey) };
    expect(call(host, "io.jwt.decode_verify", token, { ...wrong, aud: "tollgate" })).toEqual([false, {}, {}]);
  });

  const hs = () => signJwt({ alg: "HS256", key: SECRET, payload: claims });
  const table: [string, Record<string, unknown>, boolean][] = [
    ["time one second before exp is valid", { time: (claims.exp - 1) * 1e9 }, true],
    ["time equal to exp is expired", { time: claims.exp * 1e9 }, false],
    ["time equal to nbf is valid", { time: claims.nbf * 1e9 }, true],
    ["time before nbf is not yet valid", { time: (claims.nbf - 1) * 1e9 }, false],
    ["a matching iss is valid", { iss: claims.iss }, true],
    ["another iss is rejected", { iss: "https://evil.example" }, false],
    ["another aud is rejected", { aud: "billing" }, false],
    ["an alg constraint naming the token's alg is valid", { alg: "HS256" }, true],
    ["an alg constraint naming another alg is rejected", { alg: "HS512" }, false],
  ];
  it.each(table)("claims – %s", (_title, extra, valid) => {
    freshHost();
    const result = call(host, "io.jwt.decode_verify", hs(), { secret: SECRET, aud: "tollgate", ...extra }) as unknown[];
    expect(result[0]).toBe(valid);
    expect(result).toEqual(valid ? [true, { alg: "HS256", typ: "JWT" }, claims] : [false, {}, {}]);
  });

  it("aud – a token carrying aud is rejected when the constraints name no audience, as in OPA", () => {
    freshHost();
    expect(call(host, "io.jwt.decode_verify", hs(), { secret: SECRET })).toEqual([false, {}, {}]);
  });

  it("time – without a time constraint, exp and nbf are checked against the evaluation's pinned now", () => {
    const token = hs();
    freshHost(BigInt(claims.exp - 1) * 1_000_000_000n);
    expect((call(host, "io.jwt.decode_verify", token, { secret: SECRET, aud: "tollgate" }) as unknown[])[0]).toBe(true);
    host.beginEvaluation(BigInt(claims.exp) * 1_000_000_000n);
    expect(call(host, "io.jwt.decode_verify", token, { secret: SECRET, aud: "tollgate" })).toEqual([false, {}, {}]);
  });

  it("JWKS – the key named by kid verifies; a kid naming the wrong key fails even though another key would match", () => {
    freshHost();
    const jwks = JSON.stringify({ keys: [jwk(keys.rsa.publicKey, { kid: "a" }), jwk(keys.rsaOther.publicKey, { kid: "b" })] });
    const good = signJwt({ alg: "RS256", key: keys.rsa.privateKey, header: { kid: "a" }, payload: claims });
    const misnamed = signJwt({ alg: "RS256", key: keys.rsa.privateKey, header: { kid: "b" }, payload: claims });
    const unnamed = signJwt({ alg: "RS256", key: keys.rsa.privateKey, payload: claims });
    expect(call(host, "io.jwt.decode_verify", good, { cert: jwks, aud: "tollgate" })).toEqual([true, { alg: "RS256", typ: "JWT", kid: "a" }, claims]);
    expect(call(host, "io.jwt.decode_verify", misnamed, { cert: jwks, aud: "tollgate" })).toEqual([false, {}, {}]);
    expect((call(host, "io.jwt.decode_verify", unnamed, { cert: jwks, aud: "tollgate" }) as unknown[])[0]).toBe(true);
  });

  it("cert – an X.509 certificate's public key verifies RS256 and ES256 tokens", () => {
    freshHost();
    const rsToken = signJwt({ alg: "RS256", key: keys.rsa.privateKey, payload: claims });
    const esToken = signJwt({ alg: "ES256", key: keys.p256.privateKey, payload: claims });
    expect((call(host, "io.jwt.decode_verify", rsToken, { cert: selfSignedCert(keys.rsa.privateKey), aud: "tollgate" }) as unknown[])[0]).toBe(true);
    expect((call(host, "io.jwt.decode_verify", esToken, { cert: selfSignedCert(keys.p256.privateKey), aud: "tollgate" }) as unknown[])[0]).toBe(true);
  });

  it("alg confusion – an HS256 token MACed with the RSA public key PEM is not accepted by a cert constraint", () => {
    freshHost();
    const rsaPem = pem(keys.rsa.publicKey);
    const forged = signJwt({ alg: "HS256", key: rsaPem, payload: claims });
    expect(call(host, "io.jwt.decode_verify", forged, { cert: rsaPem, aud: "tollgate" })).toEqual([false, {}, {}]);
  });

  it("a well-formed token with a garbage signature answers [false, {}, {}]", () => {
    freshHost();
    const [h, p] = hs().split(".");
    expect(call(host, "io.jwt.decode_verify", `${h}.${p}.c2lnbmF0dXJl`, { secret: SECRET, aud: "tollgate" })).toEqual([false, {}, {}]);
    expect(errors).toEqual([]);
  });

  it.each([
    ["not a JWT at all", "garbage", { secret: SECRET }, "io.jwt.decode_verify: encoded JWT had no period separators"],
    ["sections that are not base64url JSON", "a.b.c", { secret: SECRET }, "io.jwt.decode_verify: JWT header had invalid encoding"],
    ["no key constraint", "a.b.c", { aud: "x" }, "io.jwt.decode_verify: no key constraint"],
    ["both secret and cert", "a.b.c", { secret: "s", cert: JSON.stringify({ keys: [] }) }, "io.jwt.decode_verify: duplicate key constraints"],
    ["an unknown constraint", "a.b.c", { secret: "s", audience: "x" }, "io.jwt.decode_verify: unknown token validation constraint: audience"],
    ["a cert that is neither PEM nor JWK", "a.b.c", { cert: "nope" }, "io.jwt.decode_verify: failed to parse a JWK key (set)"],
  ])("errors like OPA for %s – undefined (OPA's non-strict mode), reported to onError", (_title, token, constraints, message) => {
    freshHost();
    expect(call(host, "io.jwt.decode_verify", token, constraints)).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.builtin).toBe("io.jwt.decode_verify");
    expect(errors[0]?.error.code).toBe("policy_eval_error");
    expect(errors[0]?.error.message.startsWith(message)).toBe(true);
  });

  it("cache – a cached valid signature is not reused for another secret, and claims are re-checked at each call", () => {
    freshHost();
    const token = hs();
    expect((call(host, "io.jwt.decode_verify", token, { secret: SECRET, aud: "tollgate", time: NOW_NS }) as unknown[])[0]).toBe(true);
    expect(call(host, "io.jwt.decode_verify", token, { secret: `${SECRET}x`, aud: "tollgate", time: NOW_NS })).toEqual([false, {}, {}]);
    expect(call(host, "io.jwt.decode_verify", token, { secret: SECRET, aud: "tollgate", time: claims.exp * 1e9 })).toEqual([false, {}, {}]);
    expect(call(host, "io.jwt.decode_verify", token, { secret: SECRET, aud: "tollgate", alg: "HS384", time: NOW_NS })).toEqual([false, {}, {}]);
    expect((call(host, "io.jwt.decode_verify", token, { secret: SECRET, aud: "tollgate", time: NOW_NS }) as unknown[])[0]).toBe(true);
  });
});

describe("io.jwt.decode_verify – cached verifications (the LRU and the latest few, matched by string)", () => {
  const valid = (result: unknown) => (result as unknown[])[0];
  const esJwks = (key: "p256" | "rsa") => JSON.stringify({ keys: [jwk(keys[key].publicKey, { kid: "k" })] });

  it.each([["default caches", {}], ["no token cache", { tokenCacheSize: 0 }], ["no key cache", { keyCacheSize: 0 }]] as const)(
    "%s – a verification is never reused for another key set, token, alg or secret, and claims are checked at every call",
    (_, sizes) => {
      errors = [];
      host = createHostBuiltins({ clock: () => BigInt(NOW_NS), onError: (error, builtin) => errors.push({ builtin, error }), ...sizes });
      host.beginEvaluation();
      const es = (sub: string, exp = claims.exp) => signJwt({ alg: "ES256", key: keys.p256.privateKey, header: { kid: "k" }, payload: { ...claims, sub, exp } });
      const good = esJwks("p256");
      const other = esJwks("rsa");
      const tokens = Array.from({ length: 12 }, (_, i) => es(`user-${i}`));
      const forged = `${tokens[0]!.split(".").slice(0, 2).join(".")}.${tokens[1]!.split(".")[2]!}`;
      // Interleaved so that each answer could come from an entry made for a neighbour.
      for (let round = 0; round < 3; round++) {
        for (const [i, token] of tokens.entries()) {
          const cert = i % 2 === 0 ? good : other;
          const got = call(host, "io.jwt.decode_verify", token, { cert, aud: "tollgate", time: NOW_NS });
          expect(valid(got)).toBe(cert === good);
          if (cert === good) expect((got as unknown[])[2]).toMatchObject({ sub: `user-${i}` });
          expect(valid(call(host, "io.jwt.decode_verify", token, { cert: good, alg: "ES384", time: NOW_NS }))).toBe(false);
          expect(valid(call(host, "io.jwt.decode_verify", token, { cert: good, aud: "tollgate", time: claims.exp * 1e9 }))).toBe(false);
          expect(valid(call(host, "io.jwt.decode_verify", token, { cert: good, aud: "someone-else", time: NOW_NS }))).toBe(false);
          expect(valid(call(host, "io.jwt.decode_verify", token, { cert: good, aud: "tollgate", time: NOW_NS }))).toBe(true);
          expect(valid(call(host, "io.jwt.decode_verify", forged, { cert: good, aud: "tollgate", time: NOW_NS }))).toBe(false);
        }
        const hsToken = signJwt({ alg: "HS256", key: SECRET, payload: claims });
        expect(valid(call(host, "io.jwt.decode_verify", hsToken, { secret: SECRET, aud: "tollgate", time: NOW_NS }))).toBe(true);
        expect(valid(call(host, "io.jwt.decode_verify", hsToken, { secret: `${SECRET}!`, aud: "tollgate", time: NOW_NS }))).toBe(false);
        expect(valid(call(host, "io.jwt.decode_verify", hsToken, { secret: SECRET.slice(1), aud: "tollgate", time: NOW_NS }))).toBe(false);
      }
      expect(errors).toEqual([]);
    },
  );
});

describe("io.jwt.verify_* and io.jwt.decode", () => {
  it.each([
    ["io.jwt.verify_hs256", "HS256"], ["io.jwt.verify_hs384", "HS384"], ["io.jwt.verify_hs512", "HS512"],
  ])("%s – true for the signing secret, false for another", (fn, alg) => {
    freshHost();
    const token = signJwt({ alg, key: SECRET, payload: claims });
    expect(call(host, fn, token, SECRET)).toBe(true);
    expect(call(host, fn, token, "other")).toBe(false);
  });

  it.each([
    ["io.jwt.verify_rs256", "RS256", "rsa"], ["io.jwt.verify_rs512", "RS512", "rsa"],
    ["io.jwt.verify_ps384", "PS384", "rsa"], ["io.jwt.verify_es256", "ES256", "p256"],
    ["io.jwt.verify_es384", "ES384", "p384"], ["io.jwt.verify_es512", "ES512", "p521"], ["io.jwt.verify_eddsa", "EdDSA", "ed"],
  ] as const)("%s – true with the PEM public key and with a JWKS, false with another key", (fn, alg, pair) => {
    freshHost();
    const token = signJwt({ alg, key: keys[pair].privateKey, payload: claims });
    expect(call(host, fn, token, pem(keys[pair].publicKey))).toBe(true);
    expect(call(host, fn, token, JSON.stringify({ keys: [jwk(keys[pair].publicKey)] }))).toBe(true);
    expect(call(host, fn, token, pem(pair === "rsa" ? keys.rsaOther.publicKey : keys.rsa.publicKey))).toBe(false);
  });

  it("io.jwt.verify_es256 – the signature is raw r||s (JWS), not DER", () => {
    freshHost();
    const token = signJwt({ alg: "ES256", key: keys.p256.privateKey, payload: claims });
    const raw = Buffer.from(token.split(".")[2] as string, "base64url");
    expect(raw).toHaveLength(64);
    expect(call(host, "io.jwt.verify_es256", token, pem(keys.p256.publicKey))).toBe(true);
  });

  it("io.jwt.decode – answers [header, payload, signature as hex] without checking the signature", () => {
    freshHost();
    const token = signJwt({ alg: "HS256", key: SECRET, payload: claims });
    const sig = Buffer.from(token.split(".")[2] as string, "base64url").toString("hex");
    expect(call(host, "io.jwt.decode", token)).toEqual([{ alg: "HS256", typ: "JWT" }, claims, sig]);
  });

  it.each([["garbage"], ["a.b"], ["e30.e30"], ["!!.e30.e30"], ["e30.WzFd.e30"]])("io.jwt.decode(%j) – errors like OPA: undefined, reported to onError", (token) => {
    freshHost();
    expect(call(host, "io.jwt.decode", token)).toBeUndefined();
    expect(errors.map((e) => e.builtin)).toEqual(["io.jwt.decode"]);
  });
});

describe("key and result caches", () => {
  it("KeyStore – parses a cert string once and keeps at most its limit of entries", () => {
    const store = new KeyStore(2);
    const a = pem(keys.rsa.publicKey);
    const b = pem(keys.p256.publicKey);
    const c = JSON.stringify(jwk(keys.ed.publicKey));
    const first = store.parse("t", a);
    expect(store.parse("t", a)).toBe(first);
    store.parse("t", b);
    store.parse("t", c); // evicts a, the least recently used
    const again = store.parse("t", a);
    expect(again).not.toBe(first);
    expect(again.id).not.toBe(first.id);
    expect(again.keys).toHaveLength(1);
  });

  it("KeyStore – the same cert string asked for again (another string, equal text) gives the same keys; another text does not", () => {
    const store = new KeyStore(4);
    const a = JSON.stringify({ keys: [jwk(keys.p256.publicKey)] });
    const first = store.parse("t", a);
    expect(store.parse("t", `${a} `.trimEnd())).toBe(first);
    const b = store.parse("t", JSON.stringify({ keys: [jwk(keys.rsa.publicKey)] }));
    expect(b.id).not.toBe(first.id);
    expect(store.parse("t", a)).toBe(first);
    const none = new KeyStore(0);
    expect(none.parse("t", a).id).not.toBe(none.parse("t", a).id);
  });

  it("KeyStore – a bad cert's error is cached too and rethrown", () => {
    const store = new KeyStore(4);
    expect(() => store.parse("io.jwt.verify_rs256", "{")).toThrow(/failed to parse a JWK key \(set\)/);
    expect(() => store.parse("io.jwt.verify_rs256", "{")).toThrow(/failed to parse a JWK key \(set\)/);
  });

  it("LruCache – evicts the least recently used entry, keeps recently read ones", () => {
    const lru = new LruCache<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    expect(lru.get("a")).toBe(1);
    lru.set("c", 3);
    expect([lru.get("a"), lru.get("b"), lru.get("c"), lru.size]).toEqual([1, undefined, 3, 2]);
  });

  it("LruCache – a size of 0 stores nothing", () => {
    const lru = new LruCache<string, number>(0);
    lru.set("a", 1);
    expect([lru.get("a"), lru.size]).toEqual([undefined, 0]);
  });
});

describe("arguments of the wrong type (possible when they come from input)", () => {
  it.each([
    ["crypto.sha256", [42], "crypto.sha256: operand 1 must be string but got number"],
    ["crypto.hmac.sha256", ["x", null], "crypto.hmac.sha256: operand 2 must be string but got null"],
    ["hex.encode", [["a"]], "hex.encode: operand 1 must be string but got array"],
    ["base64url.encode_no_pad", [{}], "base64url.encode_no_pad: operand 1 must be string but got object"],
    ["io.jwt.verify_hs256", ["a.b.c", 1], "io.jwt.verify_hs256: operand 2 must be string but got number"],
    ["io.jwt.verify_rs256", [true, "pem"], "io.jwt.verify_rs256: operand 1 must be string but got boolean"],
    ["io.jwt.decode_verify", ["a.b.c", "secret"], "io.jwt.decode_verify: operand 2 must be object"],
    ["time.parse_rfc3339_ns", [1], "time.parse_rfc3339_ns: operand 1 must be string but got number"],
    ["time.add_date", [0, 1.5, 0, 0], "time.add_date: operand 2 must be integer number but got floating-point number"],
  ])("%s – answers undefined and reports the operand error", (name, args, message) => {
    freshHost();
    expect(call(host, name, ...args)).toBeUndefined();
    expect(errors.map((e) => [e.builtin, e.error.message])).toEqual([[name, message]]);
  });

  it("a host built-in never throws into opa-wasm, even without an onError callback", () => {
    const quiet = createHostBuiltins();
    for (const fn of Object.values(quiet.builtins)) expect(() => (fn as Call)(undefined, undefined, undefined, undefined)).not.toThrow();
  });
});
