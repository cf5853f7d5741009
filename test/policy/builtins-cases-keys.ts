import { createHash, createPublicKey, generateKeyPairSync, sign, type webcrypto } from "node:crypto";
import { caseList, shared, type BuiltinCase } from "./builtins-cases.js";
import { jwkMemberCases } from "./builtins-cases-jwk.js";
import { b64, jwk, jwks, pem, selfSignedCert, token, type Keys } from "./builtins-support.js";

/** io.jwt.* cases about key material: PEM and certificates, JWKS use, key types and sizes, signature encodings. */
export function keyCases(k: Keys): BuiltinCase[] {
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
  // Go's crypto/rsa limits, which OPA inherits: at least 1024 bits, an odd exponent in [3, 2^31-1].
  const rsa1023 = generateKeyPairSync("rsa", { modulusLength: 1023 });
  add("RSA 1023-bit key via decode_verify", "io.jwt.decode_verify", token({ alg: "RS256", key: rsa1023.privateKey }), { cert: pem(rsa1023.publicKey) });
  add("RSA 512-bit key via verify_ps256 (salt 0)", "io.jwt.verify_ps256", token({ alg: "PS256", key: rsa512.privateKey, pssSalt: 0 }), pem(rsa512.publicKey));
  for (const e of [2 ** 31 - 1, 2 ** 31 + 1]) {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: e });
    const signed = token({ alg: "RS256", key: pair.privateKey });
    add(`RSA exponent ${e} via decode_verify`, "io.jwt.decode_verify", signed, { cert: pem(pair.publicKey) });
    add(`RSA exponent ${e} via verify_rs256`, "io.jwt.verify_rs256", signed, pem(pair.publicKey));
    add(`RSA exponent ${e} as a JWK`, "io.jwt.decode_verify", signed, { cert: jwks(jwk(pair.publicKey)) });
  }
  // With e = 1 a "signature" is just the padded digest: anyone could forge one. Go refuses e < 2.
  const forgedInput = `${b64('{"alg":"RS256"}')}.${b64('{"sub":"mallory"}')}`;
  const digestInfo = Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), createHash("sha256").update(forgedInput).digest()]);
  const forged = `${forgedInput}.${b64(Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(256 - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo]))}`;
  const exponentOne = { ...jwkRsa, e: "AQ" };
  const pemOf = (value: Record<string, unknown>) => pem(createPublicKey({ key: value as webcrypto.JsonWebKey, format: "jwk" }));
  add("RSA exponent 1 JWK with a forged signature", "io.jwt.decode_verify", forged, { cert: jwks(exponentOne) });
  add("RSA exponent 1 PEM with a forged signature", "io.jwt.decode_verify", forged, { cert: pemOf(exponentOne) });
  add("RSA exponent 1 PEM with a forged signature via verify_rs256", "io.jwt.verify_rs256", forged, pemOf(exponentOne));
  add("RSA exponent 2 PEM (even) via decode_verify", "io.jwt.decode_verify", rsToken, { cert: pemOf({ ...jwkRsa, e: "Ag" }) });
  add("RSASSA-PSS SPKI public key", "io.jwt.verify_ps256", token({ alg: "PS256", key: pss.privateKey }), pem(pss.publicKey));
  add("X25519 public key", "io.jwt.verify_eddsa", token({ alg: "EdDSA", key: k.ed.privateKey }), pem(x25519.publicKey));
  // Go verifies ECDSA on any curve its X.509 parser knows, P-224 included, whatever the ES size.
  // Matched, not a deviation: P-224 (112-bit) is stronger than the RSA-1024 keys Go also still
  // accepts, and the key is the policy author's choice, never the token sender's.
  add("EC P-224 key with ES256 via verify_es256", "io.jwt.verify_es256", token({ alg: "ES256", key: p224.privateKey }), pem(p224.publicKey));
  add("EC P-224 key with ES256 via decode_verify", "io.jwt.decode_verify", token({ alg: "ES256", key: p224.privateKey }), { cert: pem(p224.publicKey) });
  add("alg ES256K", "io.jwt.decode_verify", token({ alg: "ES256", key: k.p256.privateKey, header: { alg: "ES256K" } }), { cert: pem(k.p256.publicKey) });
  add("RS256 header with an Ed25519 cert", "io.jwt.decode_verify", rsToken, { cert: pem(k.ed.publicKey) });
  add("oct JWK with an empty k", "io.jwt.decode_verify", token({ alg: "HS256", key: "" }), { cert: jwks({ kty: "oct", k: "" }) });
  add("verify_hs256 with an empty secret", "io.jwt.verify_hs256", token({ alg: "HS256", key: "" }), "");
  add("ES256 signature of zeros", "io.jwt.verify_es256", `${eh}.${ep}.${b64(Buffer.alloc(64))}`, pem(k.p256.publicKey));
  add("ES256 signature of zeros via decode_verify", "io.jwt.decode_verify", `${eh}.${ep}.${b64(Buffer.alloc(64))}`, { cert: pem(k.p256.publicKey) });
  add("ES256 signature with a leading zero byte added", "io.jwt.verify_es256", `${eh}.${ep}.${b64(Buffer.concat([Buffer.from([0]), rawSig.subarray(0, 32), Buffer.from([0]), rawSig.subarray(32)]))}`, pem(k.p256.publicKey));
  add("Ed25519 certificate", "io.jwt.verify_eddsa", token({ alg: "EdDSA", key: k.ed.privateKey }), selfSignedCert(k.ed.privateKey));
  add("EC certificate via decode_verify", "io.jwt.decode_verify", es, { cert: selfSignedCert(k.p256.privateKey) });

  add("JWKS with extra top-level members", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: [jwkRsa], issuer: "x" }) });
  add("JWKS: kid match ignores the key's alg", "io.jwt.decode_verify", rs({}, { alg: "RS256", kid: "k1" }), { cert: jwks(jwk(k.rsa.publicKey, { kid: "k1", alg: "RS512" })) });
  add("JWKS: kid match ignores the key's alg in verify_rs256", "io.jwt.verify_rs256", rs({}, { alg: "RS256", kid: "k1" }), jwks(jwk(k.rsa.publicKey, { kid: "k1", alg: "RS512" })));
  return [...cases, ...jwkMemberCases(k)];
}
