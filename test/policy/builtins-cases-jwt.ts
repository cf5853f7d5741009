import type { KeyObject } from "node:crypto";
import { AT_T0, caseList, shared, T0, type BuiltinCase } from "./builtins-cases.js";
import { b64, jwks, pem, tamper, token, type Keys } from "./builtins-support.js";

/** io.jwt.* cases about the token itself: each alg family, claims, constraints, headers, malformed and nested tokens. */
export function tokenCases(k: Keys): BuiltinCase[] {
  const { cases, add } = caseList();
  const { rs, rsCert, at, hs, jwkRsa } = shared(k);
  const families: { alg: string; signKey: KeyObject | string; verify: string; wrong: string }[] = [];
  for (const bits of ["256", "384", "512"]) {
    families.push({ alg: `HS${bits}`, signKey: "s3cret", verify: "s3cret", wrong: "other" });
    families.push({ alg: `RS${bits}`, signKey: k.rsa.privateKey, verify: pem(k.rsa.publicKey), wrong: pem(k.rsaOther.publicKey) });
    families.push({ alg: `PS${bits}`, signKey: k.rsa.privateKey, verify: pem(k.rsa.publicKey), wrong: pem(k.rsaOther.publicKey) });
  }
  families.push({ alg: "ES256", signKey: k.p256.privateKey, verify: pem(k.p256.publicKey), wrong: pem(k.p256Other.publicKey) });
  families.push({ alg: "ES384", signKey: k.p384.privateKey, verify: pem(k.p384.publicKey), wrong: pem(k.p256Other.publicKey) });
  families.push({ alg: "ES512", signKey: k.p521.privateKey, verify: pem(k.p521.publicKey), wrong: pem(k.p256Other.publicKey) });
  families.push({ alg: "EdDSA", signKey: k.ed.privateKey, verify: pem(k.ed.publicKey), wrong: pem(k.edOther.publicKey) });

  for (const f of families) {
    const good = token({ alg: f.alg, key: f.signKey, payload: { sub: "alice", iat: T0 } });
    const keyField = f.alg.startsWith("HS") ? "secret" : "cert";
    const verifyName = `io.jwt.verify_${f.alg.toLowerCase()}`;
    add(`${f.alg} decode_verify with the right key`, "io.jwt.decode_verify", good, { [keyField]: f.verify });
    add(`${f.alg} decode_verify with the wrong key`, "io.jwt.decode_verify", good, { [keyField]: f.wrong });
    add(`${f.alg} decode_verify with a flipped signature bit`, "io.jwt.decode_verify", tamper(good), { [keyField]: f.verify });
    add(`${f.alg} ${verifyName} with the right key`, verifyName, good, f.verify);
    add(`${f.alg} ${verifyName} with the wrong key`, verifyName, good, f.wrong);
    add(`${f.alg} ${verifyName} with a flipped signature bit`, verifyName, tamper(good), f.verify);
    add(`${f.alg} decode`, "io.jwt.decode", good);
  }

  // Registered claims against the `time` constraint (ns) and the iss/aud constraints.
  add("exp in the past", "io.jwt.decode_verify", rs({ exp: T0 - 1 }), at(AT_T0));
  add("exp exactly now is expired", "io.jwt.decode_verify", rs({ exp: T0 }), at(AT_T0));
  add("exp in the future", "io.jwt.decode_verify", rs({ exp: T0 + 1 }), at(AT_T0));
  add("exp fractional", "io.jwt.decode_verify", rs({ exp: T0 + 0.5 }), at(AT_T0));
  add("exp as a string", "io.jwt.decode_verify", rs({ exp: String(T0 + 10) }), at(AT_T0));
  add("nbf in the future", "io.jwt.decode_verify", rs({ nbf: T0 + 1 }), at(AT_T0));
  add("nbf exactly now", "io.jwt.decode_verify", rs({ nbf: T0 }), at(AT_T0));
  add("nbf as a string", "io.jwt.decode_verify", rs({ nbf: "soon" }), at(AT_T0));
  add("exp far past without time uses now", "io.jwt.decode_verify", rs({ exp: 1000 }), { cert: rsCert });
  add("exp far future without time uses now", "io.jwt.decode_verify", rs({ exp: 4_000_000_000 }), { cert: rsCert });
  add("iss matches", "io.jwt.decode_verify", rs({ iss: "https://issuer" }), at(AT_T0, { iss: "https://issuer" }));
  add("iss differs", "io.jwt.decode_verify", rs({ iss: "https://evil" }), at(AT_T0, { iss: "https://issuer" }));
  add("iss missing but required", "io.jwt.decode_verify", rs({}), at(AT_T0, { iss: "https://issuer" }));
  cases.push({ title: "iss not a string", builtin: "io.jwt.decode_verify", args: [rs({ iss: 42 }), at(AT_T0, { iss: "https://issuer" })], opaPanics: true });
  add("aud string matches", "io.jwt.decode_verify", rs({ aud: "api" }), at(AT_T0, { aud: "api" }));
  add("aud array contains", "io.jwt.decode_verify", rs({ aud: ["x", "api"] }), at(AT_T0, { aud: "api" }));
  add("aud array lacks", "io.jwt.decode_verify", rs({ aud: ["x", 1] }), at(AT_T0, { aud: "api" }));
  add("aud present but no aud constraint", "io.jwt.decode_verify", rs({ aud: "api" }), at(AT_T0));
  add("aud required but absent", "io.jwt.decode_verify", rs({}), at(AT_T0, { aud: "api" }));
  add("aud an object", "io.jwt.decode_verify", rs({ aud: { a: 1 } }), at(AT_T0, { aud: "api" }));
  add("aud string differs", "io.jwt.decode_verify", rs({ aud: "api" }), at(AT_T0, { aud: "other" }));
  add("aud array with a number still matches", "io.jwt.decode_verify", rs({ aud: ["a", 7, "api"] }), at(AT_T0, { aud: "api" }));
  add("nbf as a boolean", "io.jwt.decode_verify", rs({ nbf: true }), at(AT_T0));

  // Constraint object problems are errors (undefined), not [false, {}, {}].
  const plain = rs({ sub: "bob" });
  add("alg constraint matches", "io.jwt.decode_verify", plain, { cert: rsCert, alg: "RS256" });
  add("alg constraint differs", "io.jwt.decode_verify", plain, { cert: rsCert, alg: "RS512" });
  add("unknown constraint", "io.jwt.decode_verify", plain, { cert: rsCert, foo: 1 });
  add("no key constraint", "io.jwt.decode_verify", plain, { iss: "x" });
  add("empty secret counts as no key", "io.jwt.decode_verify", plain, { secret: "" });
  add("both secret and cert", "io.jwt.decode_verify", plain, { cert: rsCert, secret: "s" });
  add("negative time", "io.jwt.decode_verify", plain, { cert: rsCert, time: -1 });
  add("time as a string", "io.jwt.decode_verify", plain, { cert: rsCert, time: "now" });
  add("cert not a string", "io.jwt.decode_verify", plain, { cert: 1 });
  add("secret not a string", "io.jwt.decode_verify", plain, { secret: 1 });
  add("constraints not an object", "io.jwt.decode_verify", plain, "cert");
  add("RS token against an HS secret", "io.jwt.decode_verify", plain, { secret: "s3cret" });
  add("HS token against an RSA cert", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }), { cert: rsCert });
  // The classic alg confusion attack: HMAC keyed with the verifier's public key PEM.
  add("HS256 token MACed with the RSA PEM, checked against that cert", "io.jwt.decode_verify", token({ alg: "HS256", key: rsCert }), { cert: rsCert });
  add("HS256 token MACed with the RSA PEM, via verify_rs256", "io.jwt.verify_rs256", token({ alg: "HS256", key: rsCert }), rsCert);

  // Headers.
  add("header without alg", "io.jwt.decode_verify", rs({}, { typ: "JWT" }), { cert: rsCert });
  add("alg none", "io.jwt.decode_verify", `${b64('{"alg":"none"}')}.${b64("{}")}.`, { secret: "s" });
  add("alg not a string", "io.jwt.decode_verify", rs({}, { alg: 256 }), { cert: rsCert });
  add("unknown critical header", "io.jwt.decode_verify", rs({}, { alg: "RS256", crit: ["x-private"], "x-private": 1 }), { cert: rsCert });
  add("critical header naming a known field", "io.jwt.decode_verify", rs({}, { alg: "RS256", crit: ["kid"], kid: "a" }), { cert: rsCert });
  add("crit not a list", "io.jwt.decode_verify", rs({}, { alg: "RS256", crit: "x" }), { cert: rsCert });
  add("crit empty list", "io.jwt.decode_verify", rs({}, { alg: "RS256", crit: [] }), { cert: rsCert });
  add("JWE header (enc)", "io.jwt.decode_verify", rs({}, { alg: "RS256", enc: "A128GCM" }), { cert: rsCert });
  add("JWE header for decode", "io.jwt.decode", rs({}, { alg: "RS256", enc: "A128GCM" }));
  // Header alg names OPA's JWS library resolves: RFC 9864's "Ed25519", and names of its signature
  // library (dsig), which verify exactly like the JWS algorithm they stand for.
  add("alg Ed25519 (RFC 9864 name)", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey, header: { alg: "Ed25519" } }), { cert: pem(k.ed.publicKey) });
  add("alg Ed25519 with an alg constraint", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey, header: { alg: "Ed25519" } }), { cert: pem(k.ed.publicKey), alg: "Ed25519" });
  add("alg Ed25519 with an EC key", "io.jwt.decode_verify", token({ alg: "ES256", key: k.p256.privateKey, header: { alg: "Ed25519" } }), { cert: pem(k.p256.publicKey) });
  add("alg Ed448", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey, header: { alg: "Ed448" } }), { cert: pem(k.ed.publicKey) });
  add("alg EDDSA (dsig name, curve check fails)", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey, header: { alg: "EDDSA" } }), { cert: pem(k.ed.publicKey) });
  add("alg HMAC_WITH_SHA256 (dsig name)", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret", header: { alg: "HMAC_WITH_SHA256" } }), { secret: "s3cret" });
  add("alg HMAC_WITH_SHA512 with the SHA-256 MAC", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret", header: { alg: "HMAC_WITH_SHA512" } }), { secret: "s3cret" });
  add("alg RSA_PKCS1v15_WITH_SHA384 (dsig name)", "io.jwt.decode_verify", token({ alg: "RS384", key: k.rsa.privateKey, header: { alg: "RSA_PKCS1v15_WITH_SHA384" } }), { cert: rsCert });
  add("alg RSA_PSS_WITH_SHA256 (dsig name)", "io.jwt.decode_verify", token({ alg: "PS256", key: k.rsa.privateKey, header: { alg: "RSA_PSS_WITH_SHA256" } }), { cert: rsCert });
  add("alg ECDSA_WITH_P521_AND_SHA512 (dsig name)", "io.jwt.decode_verify", token({ alg: "ES512", key: k.p521.privateKey, header: { alg: "ECDSA_WITH_P521_AND_SHA512" } }), { cert: pem(k.p521.publicKey) });
  add("alg hmac_with_sha256 (names are case-sensitive)", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret", header: { alg: "hmac_with_sha256" } }), { secret: "s3cret" });
  add("alg dsig name skips JWKS keys that declare an alg", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret", header: { alg: "HMAC_WITH_SHA256" } }),
    { cert: jwks({ kty: "oct", k: b64("s3cret"), alg: "HS256" }) });

  // Malformed tokens.
  for (const bad of ["garbage", "a.b", "a.b.c.d", "", "a.b.c", "e30.e30.a"]) {
    add(`decode_verify of ${JSON.stringify(bad)}`, "io.jwt.decode_verify", bad, { secret: "s" });
    add(`decode of ${JSON.stringify(bad)}`, "io.jwt.decode", bad);
    add(`verify_hs256 of ${JSON.stringify(bad)}`, "io.jwt.verify_hs256", bad, "s");
    add(`verify_rs256 of ${JSON.stringify(bad)}`, "io.jwt.verify_rs256", bad, rsCert);
  }
  add("token not a string", "io.jwt.decode_verify", 42, { secret: "s" });
  add("decode of a number", "io.jwt.decode", 42);
  add("payload not JSON", "io.jwt.decode", token({ alg: "HS256", key: "s", payload: "not json" }));
  add("payload a JSON array", "io.jwt.decode", token({ alg: "HS256", key: "s", payload: "[1,2]" }));
  add("payload not JSON for decode_verify", "io.jwt.decode_verify", token({ alg: "HS256", key: "s", payload: "nope" }), { secret: "s" });
  add("payload a JSON array for decode_verify", "io.jwt.decode_verify", token({ alg: "HS256", key: "s", payload: "[1]" }), { secret: "s" });
  add("payload a JSON number", "io.jwt.decode", token({ alg: "HS256", key: "s", payload: "42" }));
  add("header not base64url", "io.jwt.decode", "!!!.e30.AAAA");
  add("signature not base64url for decode_verify", "io.jwt.decode_verify", `${b64('{"alg":"HS256"}')}.${b64("{}")}.***`, { secret: "s" });
  add("verify_hs256 with an empty signature", "io.jwt.verify_hs256", `${token({ alg: "HS256", key: "s" }).split(".").slice(0, 2).join(".")}.`, "s");
  add("header not JSON", "io.jwt.decode", token({ alg: "HS256", key: "s", header: "nope" }));
  add("duplicate payload keys keep the last", "io.jwt.decode", token({ alg: "HS256", key: "s", payload: '{"a":1,"a":2}' }));
  add("empty signature decodes", "io.jwt.decode", `${b64('{"alg":"HS256"}')}.${b64('{"a":1}')}.`);
  add("signature with invalid base64url", "io.jwt.decode", `${b64('{"alg":"HS256"}')}.${b64('{"a":1}')}.a*b`);
  add("padded segments", "io.jwt.decode", `${Buffer.from('{"alg":"HS256"}').toString("base64").replace(/\+/g, "-").replace(/\//g, "_")}.${b64("{}")}.`);
  add("verify_hs256 ignores an unparsable header", "io.jwt.verify_hs256", token({ alg: "HS256", key: "s", header: "nope" }), "s");
  add("verify_rs256 rejects an unparsable header", "io.jwt.verify_rs256", token({ alg: "RS256", key: k.rsa.privateKey, header: "nope" }), rsCert);
  add("verify_hs256 with a secret that is not a string", "io.jwt.verify_hs256", token({ alg: "HS256", key: "s" }), 5);

  // Nested tokens (cty: JWT).
  const inner = token({ alg: "HS256", key: "s3cret", payload: { sub: "inner" } });
  const nestedHeader = { alg: "HS256", cty: "JWT" };
  add("nested JWT verified through both layers", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret", header: nestedHeader, payload: inner }), { secret: "s3cret" });
  add("nested JWT with lower-case cty", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret", header: { alg: "HS256", cty: "jwt" }, payload: inner }), { secret: "s3cret" });
  const innerOther = token({ alg: "HS256", key: "other", payload: { sub: "inner" } });
  add("nested JWT whose inner signature fails", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret", header: nestedHeader, payload: innerOther }), { secret: "s3cret" });
  add("decode of a nested JWT", "io.jwt.decode", token({ alg: "HS256", key: "s3cret", header: nestedHeader, payload: inner }));
  add("decode of a quoted nested JWT", "io.jwt.decode", token({ alg: "HS256", key: "s3cret", header: nestedHeader, payload: `"${inner}"` }));

  // Segment encodings and odd JSON.
  const stdB64 = (text: string) => Buffer.from(text).toString("base64");
  add("segment in standard base64 alphabet", "io.jwt.decode", `${stdB64('{"alg":"HS256","x":"??>>"}')}.${b64("{}")}.`);
  add("segment with a newline inside", "io.jwt.decode", `${b64('{"alg":"HS256"}').slice(0, 4)}\n${b64('{"alg":"HS256"}').slice(4)}.${b64("{}")}.`);
  add("segment of length 1 mod 4", "io.jwt.decode", `${b64('{"alg":"HS256"}')}.${b64("{}")}.abcde`);
  add("segment with padding in the middle", "io.jwt.decode", `${b64('{"alg":"HS256"}')}.e3=0.`);
  add("payload with invalid UTF-8", "io.jwt.decode", `${b64('{"alg":"HS256"}')}.${b64(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]))}.`);
  add("header JSON null", "io.jwt.decode", hs("null", "{}"));
  add("header JSON array", "io.jwt.decode_verify", hs("[]", "{}"), { secret: "s" });
  add("token with surrounding spaces", "io.jwt.decode", ` ${hs('{"alg":"HS256"}', "{}")} `);
  add("cty not a string in decode_verify", "io.jwt.decode_verify", hs('{"alg":"HS256","cty":1}', "{}"), { secret: "s" });
  cases.push({ title: "cty not a string in decode", builtin: "io.jwt.decode", args: [hs('{"alg":"HS256","cty":1}', "{}")], opaPanics: true });
  add("kid not a string", "io.jwt.decode_verify", hs('{"alg":"HS256","kid":1}', "{}"), { secret: "s" });
  add("typ not a string", "io.jwt.decode_verify", hs('{"alg":"HS256","typ":true}', "{}"), { secret: "s" });
  add("crit with a non-string entry first", "io.jwt.decode_verify", hs('{"alg":"HS256","crit":[1,"x"],"x":1}', "{}"), { secret: "s" });
  add("crit with a non-string entry later", "io.jwt.decode_verify", hs('{"alg":"HS256","crit":["x",1],"x":1}', "{}"), { secret: "s" });
  add("aud empty string against empty constraint", "io.jwt.decode_verify", hs('{"alg":"HS256"}', '{"aud":""}'), { secret: "s", aud: "" });
  add("time constraint as a float", "io.jwt.decode_verify", hs('{"alg":"HS256"}', `{"exp":${T0}}`), { secret: "s", time: AT_T0 - 0.5 });
  add("time constraint zero", "io.jwt.decode_verify", hs('{"alg":"HS256"}', '{"nbf":1}'), { secret: "s", time: 0 });

  for (const payload of ["{} {}", "{}x", " {} ", "{}\n", "\ufeff{}", "null", '{"a":1}{"b":2}']) {
    add(`payload ${JSON.stringify(payload)}`, "io.jwt.decode", `${b64('{"alg":"HS256"}')}.${b64(payload)}.`);
  }
  add("header with duplicate alg keeps the last", "io.jwt.decode_verify", hs('{"alg":"none","alg":"HS256"}', "{}"), { secret: "s" });

  // One token under changing constraints, run in order on one host: cached signature results
  // must never leak a previous answer about time, iss, aud, alg or key material.
  const reused = rs({ exp: T0 + 10, iss: "a", aud: "b" });
  add("reused token, valid at T0", "io.jwt.decode_verify", reused, at(AT_T0, { iss: "a", aud: "b" }));
  add("reused token, expired at T0+20", "io.jwt.decode_verify", reused, at(AT_T0 + 20e9, { iss: "a", aud: "b" }));
  add("reused token, valid at T0 again", "io.jwt.decode_verify", reused, at(AT_T0, { iss: "a", aud: "b" }));
  add("reused token, other iss", "io.jwt.decode_verify", reused, at(AT_T0, { iss: "x", aud: "b" }));
  add("reused token, other aud", "io.jwt.decode_verify", reused, at(AT_T0, { iss: "a", aud: "x" }));
  add("reused token, other alg constraint", "io.jwt.decode_verify", reused, at(AT_T0, { iss: "a", aud: "b", alg: "RS512" }));
  add("reused token, other key", "io.jwt.decode_verify", reused, { cert: pem(k.rsaOther.publicKey), time: AT_T0, iss: "a", aud: "b" });
  add("reused token, as a JWKS", "io.jwt.decode_verify", reused, { cert: jwks(jwkRsa), time: AT_T0, iss: "a", aud: "b" });
  add("reused token, verify_rs256 right key", "io.jwt.verify_rs256", reused, rsCert);
  add("reused token, verify_rs256 wrong key", "io.jwt.verify_rs256", reused, pem(k.rsaOther.publicKey));
  add("reused token, verify_rs384", "io.jwt.verify_rs384", reused, rsCert);
  return cases;
}
