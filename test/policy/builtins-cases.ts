import { createHash, generateKeyPairSync } from "node:crypto";
import { b64url, publicJwk, publicPem, selfSignedCertificate, signJwt, type TestKeys } from "./builtins-support.js";

/** One built-in call: evaluated by OPA itself (topdown), by the compiled WASM with tollgate's host built-ins, and directly. */
export interface ParityCase {
  fn: string;
  args: unknown[];
}

export const NOW_S = 1_700_000_000;
export const NOW_NS = NOW_S * 1e9;

export function buildParityCases(k: TestKeys): Record<string, ParityCase> {
  const secret = "s3cr3t-shared";
  const claims = { sub: "alice", iss: "https://issuer.example", aud: "tollgate", nbf: NOW_S - 100, exp: NOW_S + 600, role: "admin" };
  const at = (seconds: number) => seconds * 1e9;
  const rsaPem = publicPem(k.rsa.publicKey);
  const rsaCert = selfSignedCertificate(k.rsa.privateKey);
  const ecCert = selfSignedCertificate(k.ec256.privateKey);
  const jwks = JSON.stringify({
    keys: [
      publicJwk(k.rsa.publicKey, { kid: "r1", alg: "RS256", use: "sig" }),
      publicJwk(k.ec256.publicKey, { kid: "e1", alg: "ES256" }),
      { kty: "oct", kid: "h1", alg: "HS256", k: b64url(secret) },
      publicJwk(k.rsaOther.publicKey, { kid: "r2" }),
      publicJwk(k.rsa.publicKey, { kid: "enc1", alg: "RSA-OAEP" }),
    ],
  });

  const hs256 = signJwt({ alg: "HS256", key: secret, payload: claims });
  const rs256 = signJwt({ alg: "RS256", key: k.rsa.privateKey, payload: claims });
  const es256 = signJwt({ alg: "ES256", key: k.ec256.privateKey, payload: claims });
  const tokens = {
    HS256: hs256,
    HS384: signJwt({ alg: "HS384", key: secret, payload: claims }),
    HS512: signJwt({ alg: "HS512", key: secret, payload: claims }),
    RS256: rs256,
    RS384: signJwt({ alg: "RS384", key: k.rsa.privateKey, payload: claims }),
    RS512: signJwt({ alg: "RS512", key: k.rsa.privateKey, payload: claims }),
    PS256: signJwt({ alg: "PS256", key: k.rsa.privateKey, payload: claims }),
    PS384: signJwt({ alg: "PS384", key: k.rsa.privateKey, payload: claims }),
    PS512: signJwt({ alg: "PS512", key: k.rsa.privateKey, payload: claims }),
    ES256: es256,
    ES384: signJwt({ alg: "ES384", key: k.ec384.privateKey, payload: claims }),
    ES512: signJwt({ alg: "ES512", key: k.ec521.privateKey, payload: claims }),
    EdDSA: signJwt({ alg: "EdDSA", key: k.ed25519.privateKey, payload: claims }),
  };
  const verifierFor: Record<string, Record<string, unknown>> = {
    HS: { secret },
    RS: { cert: rsaPem },
    PS: { cert: rsaPem },
    ES256: { cert: publicPem(k.ec256.publicKey) },
    ES384: { cert: publicPem(k.ec384.publicKey) },
    ES512: { cert: publicPem(k.ec521.publicKey) },
    EdDSA: { cert: publicPem(k.ed25519.publicKey) },
  };
  const keyFor = (alg: string) => verifierFor[alg] ?? verifierFor[alg.slice(0, 2)] ?? {};

  const cases: Record<string, ParityCase> = {};
  const dv = (id: string, token: unknown, constraints: unknown) => (cases[`decode_verify ${id}`] = { fn: "io.jwt.decode_verify", args: [token, constraints] });

  for (const [alg, token] of Object.entries(tokens)) {
    dv(`${alg} valid`, token, { ...keyFor(alg), time: NOW_NS, iss: claims.iss, aud: "tollgate" });
    const fn = `io.jwt.verify_${alg.toLowerCase()}`;
    const keyArg = alg.startsWith("HS") ? secret : (keyFor(alg)["cert"] as string);
    cases[`${fn} valid`] = { fn, args: [token, keyArg] };
    const wrongKey = alg.startsWith("HS") ? "other-secret"
      : alg === "ES384" ? publicPem(k.ec256.publicKey)
      : alg.startsWith("ES") || alg === "EdDSA" ? publicPem(k.ec384.publicKey)
      : publicPem(k.rsaOther.publicKey);
    cases[`${fn} wrong key`] = { fn, args: [token, wrongKey] };
  }
  cases["io.jwt.verify_eddsa wrong key"] = { fn: "io.jwt.verify_eddsa", args: [tokens.EdDSA, publicPem(k.ec256.publicKey)] };

  // Wrong keys and claims.
  dv("RS256 other RSA key", rs256, { cert: publicPem(k.rsaOther.publicKey), time: NOW_NS, aud: "tollgate" });
  dv("HS256 wrong secret", hs256, { secret: "nope", time: NOW_NS, aud: "tollgate" });
  dv("ES256 token, P-384 key", es256, { cert: publicPem(k.ec384.publicKey), time: NOW_NS, aud: "tollgate" });
  dv("expired (time = exp)", hs256, { secret, time: at(claims.exp), aud: "tollgate" });
  dv("expired (time > exp)", hs256, { secret, time: at(claims.exp + 1), aud: "tollgate" });
  dv("time = nbf is valid", hs256, { secret, time: at(claims.nbf), aud: "tollgate" });
  dv("nbf in future", hs256, { secret, time: at(claims.nbf - 1), aud: "tollgate" });
  dv("iss mismatch", hs256, { secret, time: NOW_NS, aud: "tollgate", iss: "https://evil.example" });
  dv("aud mismatch", hs256, { secret, time: NOW_NS, aud: "other" });
  dv("aud claim without aud constraint", hs256, { secret, time: NOW_NS });
  const noAud = signJwt({ alg: "HS256", key: secret, payload: { sub: "bob", iss: "x" } });
  dv("aud constraint without aud claim", noAud, { secret, aud: "tollgate" });
  dv("no exp/nbf/aud, default time", noAud, { secret });
  dv("iss constraint without iss claim", signJwt({ alg: "HS256", key: secret, payload: { sub: "c" } }), { secret, iss: "x" });
  dv("aud array containing", signJwt({ alg: "HS256", key: secret, payload: { aud: ["a", 7, "tollgate"] } }), { secret, aud: "tollgate" });
  dv("aud array not containing", signJwt({ alg: "HS256", key: secret, payload: { aud: ["a", "b"] } }), { secret, aud: "tollgate" });
  dv("alg constraint mismatch", rs256, { cert: rsaPem, alg: "RS512", time: NOW_NS, aud: "tollgate" });
  dv("alg constraint match", rs256, { cert: rsaPem, alg: "RS256", time: NOW_NS, aud: "tollgate" });
  dv("exp not a number", signJwt({ alg: "HS256", key: secret, payload: { exp: "soon" } }), { secret });
  dv("nbf not a number", signJwt({ alg: "HS256", key: secret, payload: { nbf: true } }), { secret });
  dv("fractional exp", signJwt({ alg: "HS256", key: secret, payload: { exp: NOW_S + 0.5 } }), { secret, time: NOW_NS });

  // Key material shapes.
  dv("JWKS, kid r1", signJwt({ alg: "RS256", key: k.rsa.privateKey, header: { kid: "r1" }, payload: claims }), { cert: jwks, time: NOW_NS, aud: "tollgate" });
  dv("JWKS, kid names the wrong key", signJwt({ alg: "RS256", key: k.rsa.privateKey, header: { kid: "r2" }, payload: claims }), { cert: jwks, time: NOW_NS, aud: "tollgate" });
  dv("JWKS, unknown kid falls back to alg match", signJwt({ alg: "ES256", key: k.ec256.privateKey, header: { kid: "zz" }, payload: claims }), { cert: jwks, time: NOW_NS, aud: "tollgate" });
  dv("JWKS, no kid, key without alg", signJwt({ alg: "RS512", key: k.rsaOther.privateKey, payload: claims }), { cert: jwks, time: NOW_NS, aud: "tollgate" });
  dv("JWKS, oct key verifies HS256", signJwt({ alg: "HS256", key: secret, header: { kid: "h1" }, payload: claims }), { cert: jwks, time: NOW_NS, aud: "tollgate" });
  dv("single JWK", signJwt({ alg: "ES256", key: k.ec256.privateKey, payload: claims }), { cert: JSON.stringify(publicJwk(k.ec256.publicKey)), time: NOW_NS, aud: "tollgate" });
  dv("empty JWKS", rs256, { cert: JSON.stringify({ keys: [] }), time: NOW_NS, aud: "tollgate" });
  dv("X.509 certificate (RSA)", rs256, { cert: rsaCert, time: NOW_NS, aud: "tollgate" });
  dv("X.509 certificate (EC)", es256, { cert: ecCert, time: NOW_NS, aud: "tollgate" });
  dv("PEM with extra data after the block", rs256, { cert: `${rsaPem}\n`, time: NOW_NS, aud: "tollgate" });
  dv("PEM private key type", rs256, { cert: k.rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), time: NOW_NS });
  dv("cert is not PEM nor JSON", rs256, { cert: "not a key", time: NOW_NS });
  dv("HS256 token checked against an RSA cert (alg confusion)", signJwt({ alg: "HS256", key: rsaPem, payload: claims }), { cert: rsaPem, time: NOW_NS, aud: "tollgate" });
  dv("RS256 token checked with a secret", rs256, { secret: rsaPem, time: NOW_NS, aud: "tollgate" });
  dv("PS256 signed with salt 0", signJwt({ alg: "PS256", key: k.rsa.privateKey, payload: claims, pssSalt: 0 }), { cert: rsaPem, time: NOW_NS, aud: "tollgate" });
  cases["io.jwt.verify_ps256 salt 0"] = { fn: "io.jwt.verify_ps256", args: [signJwt({ alg: "PS256", key: k.rsa.privateKey, payload: claims, pssSalt: 0 }), rsaPem] };
  cases["io.jwt.verify_rs256 JWKS"] = { fn: "io.jwt.verify_rs256", args: [signJwt({ alg: "RS256", key: k.rsa.privateKey, header: { kid: "r1" }, payload: claims }), jwks] };
  cases["io.jwt.verify_es256 JWKS, no kid"] = { fn: "io.jwt.verify_es256", args: [es256, jwks] };
  cases["io.jwt.verify_rs256 certificate"] = { fn: "io.jwt.verify_rs256", args: [rs256, rsaCert] };
  cases["io.jwt.verify_rs256 garbage"] = { fn: "io.jwt.verify_rs256", args: ["garbage", rsaPem] };
  cases["io.jwt.verify_rs256 bad cert"] = { fn: "io.jwt.verify_rs256", args: [rs256, "nope"] };
  cases["io.jwt.verify_es256 short signature"] = { fn: "io.jwt.verify_es256", args: [`${es256.split(".").slice(0, 2).join(".")}.${b64url(Buffer.alloc(10, 1))}`, publicPem(k.ec256.publicKey)] };
  cases["io.jwt.verify_hs256 empty signature"] = { fn: "io.jwt.verify_hs256", args: [`${hs256.split(".").slice(0, 2).join(".")}.`, secret] };
  cases["io.jwt.verify_hs256 header is not JSON"] = { fn: "io.jwt.verify_hs256", args: ["bm90IGpzb24.e30.AAAA", secret] };

  const privateJwks = JSON.stringify({ keys: [{ ...k.rsa.privateKey.export({ format: "jwk" }), kid: "p1" }] });
  cases["io.jwt.verify_rs256 private JWK is rejected"] = { fn: "io.jwt.verify_rs256", args: [rs256, privateJwks] };
  dv("private JWK verifies through its public half", rs256, { cert: privateJwks, time: NOW_NS, aud: "tollgate" });
  const k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
  dv("secp256k1 JWK is not a supported key", es256, { cert: JSON.stringify(publicJwk(k1.publicKey)), time: NOW_NS, aud: "tollgate" });
  cases["io.jwt.verify_es256 secp256k1 PEM"] = { fn: "io.jwt.verify_es256", args: [es256, publicPem(k1.publicKey)] };
  dv("X25519 JWK parses but verifies nothing", es256, { cert: JSON.stringify(publicJwk(generateKeyPairSync("x25519").publicKey)), time: NOW_NS, aud: "tollgate" });

  // Malformed tokens and constraints.
  dv("garbage token", "garbage", { secret });
  dv("three garbage sections", "a.b.c", { secret });
  dv("four sections", `${hs256}.x`, { secret });
  dv("valid sections, garbage signature", `${hs256.split(".").slice(0, 2).join(".")}.AAAA`, { secret, time: NOW_NS, aud: "tollgate" });
  dv("signature not base64url", `${hs256.split(".").slice(0, 2).join(".")}.***`, { secret });
  dv("alg none", signJwt({ alg: "none", key: "", payload: claims }), { secret, time: NOW_NS, aud: "tollgate" });
  dv("no alg header", `${b64url("{}")}.${hs256.split(".")[1]}.${hs256.split(".")[2]}`, { secret });
  dv("unknown critical header", signJwt({ alg: "HS256", key: secret, header: { crit: ["exp2"], exp2: 1 }, payload: {} }), { secret });
  dv("understood critical header", signJwt({ alg: "HS256", key: secret, header: { crit: ["kid"], kid: "a" }, payload: {} }), { secret });
  dv("crit not a list", signJwt({ alg: "HS256", key: secret, header: { crit: "x" }, payload: {} }), { secret });
  dv("JWE header", signJwt({ alg: "HS256", key: secret, header: { enc: "A256GCM" }, payload: {} }), { secret });
  dv("payload not JSON", signJwt({ alg: "HS256", key: secret, payload: "not json" }), { secret });
  dv("payload JSON array", signJwt({ alg: "HS256", key: secret, payload: "[1]" }), { secret });
  dv("no key constraint", hs256, { time: NOW_NS });
  dv("empty secret", hs256, { secret: "" });
  dv("secret and cert", hs256, { secret, cert: rsaPem });
  dv("unknown constraint", hs256, { secret, foo: 1 });
  dv("negative time", hs256, { secret, time: -1 });
  dv("time not a number", hs256, { secret, time: "now" });
  dv("constraints not an object", hs256, "secret");
  const inner = signJwt({ alg: "HS256", key: secret, header: { kid: "inner" }, payload: { sub: "nested" } });
  dv("nested JWT", signJwt({ alg: "HS256", key: secret, header: { cty: "jwt" }, payload: inner }), { secret });
  dv("nested JWT, inner wrongly signed", signJwt({ alg: "HS256", key: secret, header: { cty: "JWT" }, payload: signJwt({ alg: "HS256", key: "x", payload: {} }) }), { secret });

  // io.jwt.decode
  const de = (id: string, token: unknown) => (cases[`decode ${id}`] = { fn: "io.jwt.decode", args: [token] });
  de("HS256", hs256);
  de("ES512", tokens.ES512);
  de("nested, quoted", signJwt({ alg: "HS256", key: secret, header: { cty: "JWT" }, payload: `"${inner}"` }));
  de("lower-case cty is not nested", signJwt({ alg: "HS256", key: secret, header: { cty: "jwt" }, payload: { a: 1 } }));
  de("garbage", "garbage");
  de("bad header base64", "!!!.e30.AAAA");
  de("payload not an object", signJwt({ alg: "HS256", key: secret, payload: "42" }));
  de("padded sections", `${b64url(JSON.stringify({ alg: "HS256" }))}=.${b64url("{}")}.`);
  de("number", 42);

  // crypto.*
  for (const text of ["", "hello", "héllo ✓ 😀"]) {
    for (const fn of ["crypto.md5", "crypto.sha1", "crypto.sha256"]) cases[`${fn} ${JSON.stringify(text)}`] = { fn, args: [text] };
    for (const fn of ["crypto.hmac.md5", "crypto.hmac.sha1", "crypto.hmac.sha256", "crypto.hmac.sha512"]) cases[`${fn} ${JSON.stringify(text)}`] = { fn, args: [text, "këy"] };
  }
  const mac = createHash("sha256").update("x").digest("hex");
  cases["crypto.hmac.equal same"] = { fn: "crypto.hmac.equal", args: [mac, mac] };
  cases["crypto.hmac.equal different"] = { fn: "crypto.hmac.equal", args: [mac, mac.replace(/^./, "0")] };
  cases["crypto.hmac.equal lengths differ"] = { fn: "crypto.hmac.equal", args: [mac, mac.slice(1)] };

  // Encodings.
  const call = (fn: string, ...args: unknown[]) => (cases[`${fn} ${JSON.stringify(args)}`] = { fn, args });
  for (const s of ["", "f", "fo", "foo", "hello?>~", "ünï ✓"]) call("base64url.encode_no_pad", s);
  for (const s of ["", "hello", "ünï ✓"]) call("hex.encode", s);
  for (const s of ["", "68656c6c6f", "4A4b", "abc", "zz", "c3bc"]) call("hex.decode", s);
  for (const s of ["a b&c=d/é~*.-_", "", "100%"]) call("urlquery.encode", s);
  for (const s of ["a+b%20c%2F%C3%A9", "%zz", "%4", "plain"]) call("urlquery.decode", s);
  call("urlquery.encode_object", { b: ["2", "1"], a: "x y", e: [] });
  call("urlquery.encode_object", { a: 1 });
  for (const s of ["a=1&b=2&a=3&c", "a=1;b=2", "x=%zz", "", "=v&&k="]) call("urlquery.decode_object", s);

  // Time.
  for (const s of ["2023-11-14T22:13:20Z", "2023-11-14T22:13:20+02:00", "2023-11-14T22:13:20.123456789Z", "2023-11-14T22:13:20.5-07:30",
    "2023-11-14T22:13:20.1234567891Z", "2023-11-14T22:13:20+24:00", "2023-11-14T22:13:20+25:00", "2023-11-14T22:13:20-01:60", "2023-11-14T22:13:20-01:61", "2023-11-14T9:13:20Z", "2023-11-14T22:13:20,5Z", "2023-11-14t22:13:20Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2023-11-14 22:13:20Z", "2023-11-14T25:13:20Z", "1600-01-01T00:00:00Z", "nope"]) {
    call("time.parse_rfc3339_ns", s);
  }
  for (const s of ["1h30m", "1.5h", "-2m3.5s", "+5s", "0", "", "5", "1x", ".5s", "1µs", "1us2ns", "1d", "1w2d", "1.5d", "-1y", "1d1q", "3000000h", "1hm"]) {
    call("time.parse_duration_ns", s);
  }
  const ts = 1_700_000_000e9;
  for (const fn of ["time.date", "time.clock", "time.weekday"]) {
    for (const arg of [ts, [ts], [ts, "UTC"], [ts, ""], [ts, "America/New_York"], [ts, "Asia/Kolkata"], [ts, "Mars/Olympus"], -86_401e9, [], "x", 1.5]) call(fn, arg);
  }
  call("time.add_date", ts, 1, 2, 3);
  call("time.add_date", 1_675_123_200e9, 0, 1, 0); // 2023-01-31 + 1 month
  call("time.add_date", [1_678_550_400e9, "America/New_York"], 0, 0, 1); // across the DST change
  call("time.add_date", ts, 0, -25, -400);
  call("time.add_date", ts, 400, 0, 0);
  call("time.diff", ts, 1_600_000_000e9);
  call("time.diff", 1_600_000_000e9, ts);
  call("time.diff", [1_675_123_200e9, "Asia/Kolkata"], [1_678_550_400e9, "America/New_York"]);
  call("time.diff", ts, ts);
  return cases;
}

