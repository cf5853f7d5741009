import { generateKeyPairSync, sign } from "node:crypto";
import { b64, caseList, jwk, jwks, pem, selfSignedCert, shared, token, type Keys, type OracleCase } from "./builtins-oracle-fixtures.js";

/** io.jwt.* cases about key material: PEM and certificates, JWK(S) parsing, key types and signature encodings. */
export function keyCases(k: Keys): OracleCase[] {
  const { cases, add } = caseList();
  const { rs, rsCert, rsToken, jwkRsa, es, eh, ep, rawSig } = shared(k);
  // Key material: certificates, PEM variants and JWKS.
  add("X.509 certificate", "io.jwt.decode_verify", rsToken, { cert: k.rsaCertPem });
  add("X.509 certificate for verify_rs256", "io.jwt.verify_rs256", rsToken, k.rsaCertPem);
  add("PEM with one trailing newline", "io.jwt.verify_rs256", rsToken, rsCert.trimEnd() + "\n");
  add("PEM without trailing newline", "io.jwt.verify_rs256", rsToken, rsCert.trimEnd());
  add("PEM with extra blank line after", "io.jwt.verify_rs256", rsToken, rsCert.trimEnd() + "\n\n");
  add("PEM with text before it", "io.jwt.verify_rs256", rsToken, "my key:\n" + rsCert);
  add("PKCS#1 RSA PUBLIC KEY block", "io.jwt.verify_rs256", rsToken, k.rsa.publicKey.export({ format: "pem", type: "pkcs1" }) as string);
  add("private key PEM", "io.jwt.verify_rs256", rsToken, k.rsa.privateKey.export({ format: "pem", type: "pkcs8" }) as string);
  add("cert that is neither PEM nor JSON", "io.jwt.verify_rs256", rsToken, "not a key");
  add("JWKS with the key", "io.jwt.decode_verify", rsToken, { cert: jwks(jwkRsa) });
  add("single JWK (no keys array)", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify(jwkRsa) });
  add("JWKS: kid match picks that key only", "io.jwt.decode_verify", rs({}, { alg: "RS256", kid: "k2" }),
    { cert: jwks(jwk(k.rsa.publicKey, { kid: "k1" }), jwk(k.rsaOther.publicKey, { kid: "k2" })) });
  add("JWKS: unmatched kid falls back to all keys", "io.jwt.decode_verify", rs({}, { alg: "RS256", kid: "zz" }),
    { cert: jwks(jwk(k.rsaOther.publicKey, { kid: "k1" }), jwk(k.rsa.publicKey, { kid: "k2" })) });
  add("JWKS: key alg differs from header alg", "io.jwt.decode_verify", rsToken, { cert: jwks(jwk(k.rsa.publicKey, { alg: "RS512" })) });
  add("JWKS: key alg equals header alg", "io.jwt.decode_verify", rsToken, { cert: jwks(jwk(k.rsa.publicKey, { alg: "RS256" })) });
  add("JWKS: key with an unknown alg is skipped", "io.jwt.decode_verify", rsToken, { cert: jwks(jwk(k.rsa.publicKey, { alg: "RSA-OAEP" })) });
  add("JWKS: one unparsable key fails the set", "io.jwt.decode_verify", rsToken, { cert: jwks(jwkRsa, { kty: "RSA", n: "!!" }) });
  add("JWKS: unknown kty fails the set", "io.jwt.decode_verify", rsToken, { cert: jwks(jwkRsa, { kty: "XYZ" }) });
  add("JWKS: empty set", "io.jwt.decode_verify", rsToken, { cert: jwks() });
  add("JWKS: EC P-256 key", "io.jwt.verify_es256", token({ alg: "ES256", key: k.p256.privateKey }), jwks(jwk(k.p256.publicKey)));
  add("JWKS: Ed25519 key", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey }), { cert: jwks(jwk(k.ed.publicKey)) });
  add("JWKS: oct key verifies HS256 through cert", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }),
    { cert: jwks({ kty: "oct", k: b64("s3cret") }) });
  add("JWKS: private RSA JWK", "io.jwt.decode_verify", rsToken, { cert: jwks(k.rsa.privateKey.export({ format: "jwk" }) as Record<string, unknown>) });
  add("JWKS: private RSA JWK for verify_rs256", "io.jwt.verify_rs256", rsToken, jwks(k.rsa.privateKey.export({ format: "jwk" }) as Record<string, unknown>));
  add("JWKS for verify_rs256 with kid", "io.jwt.verify_rs256", rs({}, { alg: "RS256", kid: "k1" }), jwks(jwk(k.rsa.publicKey, { kid: "k1" })));

  // Signature encodings that differ between decode_verify (JWS rules) and verify_* (OPA's own).
  const pssZeroSalt = token({ alg: "PS256", key: k.rsa.privateKey, pssSalt: 0 });
  add("PS256 with salt 0 via decode_verify", "io.jwt.decode_verify", pssZeroSalt, { cert: rsCert });
  add("PS256 with salt 0 via verify_ps256", "io.jwt.verify_ps256", pssZeroSalt, rsCert);
  const derSig = b64(sign("sha256", Buffer.from(`${eh}.${ep}`), { key: k.p256.privateKey, dsaEncoding: "der" }));
  add("ES256 with a DER signature via verify_es256", "io.jwt.verify_es256", `${eh}.${ep}.${derSig}`, pem(k.p256.publicKey));
  add("ES256 with a DER signature via decode_verify", "io.jwt.decode_verify", `${eh}.${ep}.${derSig}`, { cert: pem(k.p256.publicKey) });
  add("ES256 with a truncated signature", "io.jwt.verify_es256", `${eh}.${ep}.${b64(rawSig.subarray(0, 63))}`, pem(k.p256.publicKey));
  add("ES256 token against a P-384 key", "io.jwt.decode_verify", es, { cert: pem(k.p384.publicKey) });
  const es256OnP384 = token({ alg: "ES256", key: k.p384.privateKey });
  add("ES256 signed on P-384 via decode_verify", "io.jwt.decode_verify", es256OnP384, { cert: pem(k.p384.publicKey) });
  add("ES256 signed on P-384 via verify_es256", "io.jwt.verify_es256", es256OnP384, pem(k.p384.publicKey));
  add("verify_es256 with an RSA key", "io.jwt.verify_es256", es, rsCert);
  add("verify_rs256 with an EC key", "io.jwt.verify_rs256", rsToken, pem(k.p256.publicKey));
  add("verify_ps256 of an RS256 token", "io.jwt.verify_ps256", rsToken, rsCert);
  add("verify_rs384 of an RS256 token", "io.jwt.verify_rs384", rsToken, rsCert);
  add("verify_eddsa with the wrong key type", "io.jwt.verify_eddsa", token({ alg: "EdDSA", key: k.ed.privateKey }), rsCert);

  // More key material shapes.
  add("JWKS: kid matches a key of the wrong type, no fallback", "io.jwt.decode_verify", rs({}, { alg: "RS256", kid: "e" }),
    { cert: jwks(jwk(k.p256.publicKey, { kid: "e" }), jwkRsa) });
  add("JWKS: duplicate kids use the first", "io.jwt.decode_verify", rs({}, { alg: "RS256", kid: "d" }),
    { cert: jwks(jwk(k.rsaOther.publicKey, { kid: "d" }), jwk(k.rsa.publicKey, { kid: "d" })) });
  add("JWKS: keys not an array", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: jwkRsa }) });
  add("JWKS: top-level JSON array", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify([jwkRsa]) });
  add("JWK without kty", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ n: jwkRsa["n"], e: jwkRsa["e"] }) });
  add("JWK EC on secp256k1", "io.jwt.decode_verify", rsToken,
    { cert: JSON.stringify(jwk(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey)) });
  add("JWK oct for verify_hs256-style check via verify_rs256", "io.jwt.verify_rs256", rsToken, jwks({ kty: "oct", k: b64("s3cret") }));
  add("JWK with use=enc still verifies", "io.jwt.decode_verify", rsToken, { cert: jwks(jwk(k.rsa.publicKey, { use: "enc" })) });
  const certBody = k.rsaCertPem.split("\n").filter((l) => l && !l.startsWith("-----")).join("\n");
  add("CERTIFICATE block with garbage DER", "io.jwt.verify_rs256", rsToken, `-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
  add("PEM with mismatched END type", "io.jwt.verify_rs256", rsToken, `-----BEGIN CERTIFICATE-----\n${certBody}\n-----END PUBLIC KEY-----\n`);
  add("PEM with CRLF line endings", "io.jwt.verify_rs256", rsToken, rsCert.replace(/\n/g, "\r\n"));
  add("two PEM blocks", "io.jwt.verify_rs256", rsToken, rsCert + rsCert);
  add("EC certificate", "io.jwt.verify_es256", es, pem(k.p256.publicKey));

  // Key types and sizes OPA's Go crypto treats specially.
  const rsa512 = generateKeyPairSync("rsa", { modulusLength: 512 });
  const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const rsaE3 = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 });
  const pss = generateKeyPairSync("rsa-pss", { modulusLength: 2048 });
  const x25519 = generateKeyPairSync("x25519");
  const p224 = generateKeyPairSync("ec", { namedCurve: "P-224" });
  add("RSA 512-bit key via decode_verify", "io.jwt.decode_verify", token({ alg: "RS256", key: rsa512.privateKey }), { cert: pem(rsa512.publicKey) });
  add("RSA 512-bit key via verify_rs256", "io.jwt.verify_rs256", token({ alg: "RS256", key: rsa512.privateKey }), pem(rsa512.publicKey));
  add("RSA 1024-bit key via decode_verify", "io.jwt.decode_verify", token({ alg: "RS256", key: rsa1024.privateKey }), { cert: pem(rsa1024.publicKey) });
  add("RSA 1024-bit key via verify_rs256", "io.jwt.verify_rs256", token({ alg: "RS256", key: rsa1024.privateKey }), pem(rsa1024.publicKey));
  add("RSA 512-bit JWK via decode_verify", "io.jwt.decode_verify", token({ alg: "RS256", key: rsa512.privateKey }), { cert: jwks(jwk(rsa512.publicKey)) });
  add("RSA exponent 3", "io.jwt.decode_verify", token({ alg: "RS256", key: rsaE3.privateKey }), { cert: pem(rsaE3.publicKey) });
  add("RSASSA-PSS SPKI public key", "io.jwt.verify_ps256", token({ alg: "PS256", key: pss.privateKey }), pem(pss.publicKey));
  add("X25519 public key", "io.jwt.verify_eddsa", token({ alg: "EdDSA", key: k.ed.privateKey }), pem(x25519.publicKey));
  add("EC P-224 key with ES256 via verify_es256", "io.jwt.verify_es256", token({ alg: "ES256", key: p224.privateKey }), pem(p224.publicKey));
  add("EC P-224 key with ES256 via decode_verify", "io.jwt.decode_verify", token({ alg: "ES256", key: p224.privateKey }), { cert: pem(p224.publicKey) });
  add("alg Ed25519 (RFC 9864 name)", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey, header: { alg: "Ed25519" } }), { cert: pem(k.ed.publicKey) });
  add("alg ES256K", "io.jwt.decode_verify", token({ alg: "ES256", key: k.p256.privateKey, header: { alg: "ES256K" } }), { cert: pem(k.p256.publicKey) });
  add("RS256 header with an Ed25519 cert", "io.jwt.decode_verify", rsToken, { cert: pem(k.ed.publicKey) });
  add("oct JWK with an empty k", "io.jwt.decode_verify", token({ alg: "HS256", key: "" }), { cert: jwks({ kty: "oct", k: "" }) });
  add("verify_hs256 with an empty secret", "io.jwt.verify_hs256", token({ alg: "HS256", key: "" }), "");
  add("ES256 signature of zeros", "io.jwt.verify_es256", `${eh}.${ep}.${b64(Buffer.alloc(64))}`, pem(k.p256.publicKey));
  add("ES256 signature of zeros via decode_verify", "io.jwt.decode_verify", `${eh}.${ep}.${b64(Buffer.alloc(64))}`, { cert: pem(k.p256.publicKey) });
  add("ES256 signature with a leading zero byte added", "io.jwt.verify_es256", `${eh}.${ep}.${b64(Buffer.concat([Buffer.from([0]), rawSig.subarray(0, 32), Buffer.from([0]), rawSig.subarray(32)]))}`, pem(k.p256.publicKey));
  add("Ed25519 certificate", "io.jwt.verify_eddsa", token({ alg: "EdDSA", key: k.ed.privateKey }), selfSignedCert(k.ed.privateKey));
  add("EC certificate via decode_verify", "io.jwt.decode_verify", es, { cert: selfSignedCert(k.p256.privateKey) });

  // JWK members that OPA's JWK library validates while parsing the set.
  const jwkVariants: [string, Record<string, unknown>][] = [
    ["kid not a string", jwk(k.rsa.publicKey, { kid: 7 })],
    ["alg not a string", jwk(k.rsa.publicKey, { alg: 256 })],
    ["alg none", jwk(k.rsa.publicKey, { alg: "none" })],
    ["use of an unknown value", jwk(k.rsa.publicKey, { use: "foo" })],
    ["key_ops not a list", jwk(k.rsa.publicKey, { key_ops: "verify" })],
    ["x5c garbage", jwk(k.rsa.publicKey, { x5c: ["not base64 der"] })],
    ["x5t garbage", jwk(k.rsa.publicKey, { x5t: 5 })],
    ["n not base64url", { ...jwk(k.rsa.publicKey), n: "$$$" }],
    ["e missing", { kty: "RSA", n: jwkRsa["n"] }],
    ["extra unknown member", jwk(k.rsa.publicKey, { "x-custom": { a: 1 } })],
    ["alg of an unknown name", jwk(k.rsa.publicKey, { alg: "foo" })],
    ["key_ops with an unknown operation", jwk(k.rsa.publicKey, { key_ops: ["foo"] })],
    ["key_ops [verify]", jwk(k.rsa.publicKey, { key_ops: ["verify"] })],
    ["key_ops [sign]", jwk(k.rsa.publicKey, { key_ops: ["sign"] })],
    ["x5c of valid base64 but not DER", jwk(k.rsa.publicKey, { x5c: ["AAAA"] })],
    ["x5c of another key's certificate", jwk(k.rsa.publicKey, { x5c: [k.rsaCertPem.split("\n").filter((l) => l && !l.startsWith("-----")).join("")] })],
    ["x5c not a list", jwk(k.rsa.publicKey, { x5c: "AAAA" })],
    ["use not a string", jwk(k.rsa.publicKey, { use: 5 })],
    ["x5u not a string", jwk(k.rsa.publicKey, { x5u: 5 })],
    ["x5t#S256 not a string", jwk(k.rsa.publicKey, { "x5t#S256": 5 })],
    ["n padded base64url", { ...jwk(k.rsa.publicKey), n: `${jwkRsa["n"]}==`.slice(0, ((jwkRsa["n"] as string).length + 3) & ~3) }],
    ["n in standard base64", { ...jwk(k.rsa.publicKey), n: Buffer.from(jwkRsa["n"] as string, "base64url").toString("base64") }],
    ["n with a newline", { ...jwk(k.rsa.publicKey), n: `${(jwkRsa["n"] as string).slice(0, 10)}\n${(jwkRsa["n"] as string).slice(10)}` }],
    ["e not a string", { ...jwk(k.rsa.publicKey), e: 65537 }],
    ["kty lower-case", { ...jwk(k.rsa.publicKey), kty: "rsa" }],
  ];
  for (const [title, variant] of jwkVariants) add(`JWK ${title}`, "io.jwt.decode_verify", rsToken, { cert: jwks(variant) });
  add("oct JWK with k in standard base64", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret??" }), { cert: jwks({ kty: "oct", k: Buffer.from("s3cret??").toString("base64") }) });
  add("oct JWK with k not a string", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }), { cert: jwks({ kty: "oct", k: 5 }) });
  add("oct JWK without k", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }), { cert: jwks({ kty: "oct" }) });
  add("OKP JWK with crv X25519", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey }), { cert: jwks(jwk(generateKeyPairSync("x25519").publicKey)) });
  add("oct JWK with k not base64url", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }), { cert: jwks({ kty: "oct", k: "s3cret!!" }) });
  add("EC JWK with a point off the curve", "io.jwt.decode_verify", es, { cert: jwks({ ...jwk(k.p256.publicKey), y: jwk(k.p256Other.publicKey)["y"] }) });
  add("JWKS with extra top-level members", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: [jwkRsa], issuer: "x" }) });
  add("JWKS: kid match ignores the key's alg", "io.jwt.decode_verify", rs({}, { alg: "RS256", kid: "k1" }), { cert: jwks(jwk(k.rsa.publicKey, { kid: "k1", alg: "RS512" })) });
  add("JWKS: kid match ignores the key's alg in verify_rs256", "io.jwt.verify_rs256", rs({}, { alg: "RS256", kid: "k1" }), jwks(jwk(k.rsa.publicKey, { kid: "k1", alg: "RS512" })));
  return cases;
}
