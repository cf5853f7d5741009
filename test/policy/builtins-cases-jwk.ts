import { generateKeyPairSync } from "node:crypto";
import { caseList, shared, type BuiltinCase } from "./builtins-cases.js";
import { b64, jwk, jwks, selfSignedCert, token, type Keys } from "./builtins-support.js";

const derBase64 = (certificatePem: string): string => certificatePem.split("\n").filter((l) => l && !l.startsWith("-----")).join("");

/** A certificate whose base64 ends in padding (its DER length varies with the random serial number). */
function paddedCertificate(k: Keys): string {
  for (let attempt = 0; attempt < 30; attempt++) {
    const der = derBase64(selfSignedCert(k.p256.privateKey));
    if (der.endsWith("=")) return der;
  }
  throw new Error("no certificate with base64 padding after 30 attempts");
}

/**
 * JWK(S) parsing: OPA's JWK library (jwx) checks each member while reading a key set, and one
 * bad key fails the whole set (undefined), where node:crypto alone would import the key.
 */
export function jwkMemberCases(k: Keys): BuiltinCase[] {
  const { cases, add } = caseList();
  const { rsToken, jwkRsa, es } = shared(k);
  const n = jwkRsa["n"] as string;
  const certDer = derBase64(k.rsaCertPem);
  const paddedDer = paddedCertificate(k);
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
    ["x5c of a valid certificate", jwk(k.rsa.publicKey, { x5c: [certDer] })],
    ["x5c not a list", jwk(k.rsa.publicKey, { x5c: "AAAA" })],
    ["use not a string", jwk(k.rsa.publicKey, { use: 5 })],
    ["x5u not a string", jwk(k.rsa.publicKey, { x5u: 5 })],
    ["x5t#S256 not a string", jwk(k.rsa.publicKey, { "x5t#S256": 5 })],
    ["n padded base64url", { ...jwk(k.rsa.publicKey), n: `${jwkRsa["n"]}==`.slice(0, ((n).length + 3) & ~3) }],
    ["n in standard base64", { ...jwk(k.rsa.publicKey), n: Buffer.from(n, "base64url").toString("base64") }],
    ["n with a newline", { ...jwk(k.rsa.publicKey), n: `${(n).slice(0, 10)}\n${(n).slice(10)}` }],
    ["e not a string", { ...jwk(k.rsa.publicKey), e: 65537 }],
    ["kty lower-case", { ...jwk(k.rsa.publicKey), kty: "rsa" }],
    ["kid null", jwk(k.rsa.publicKey, { kid: null })],
    ["use null", jwk(k.rsa.publicKey, { use: null })],
    ["x5t null", jwk(k.rsa.publicKey, { x5t: null })],
    ["alg null", jwk(k.rsa.publicKey, { alg: null })],
    ["alg empty", jwk(k.rsa.publicKey, { alg: "" })],
    ["alg of a JWE algorithm", jwk(k.rsa.publicKey, { alg: "A128GCM" })],
    ["alg of another case", jwk(k.rsa.publicKey, { alg: "rs256" })],
    ["alg Ed448 (not registered)", jwk(k.rsa.publicKey, { alg: "Ed448" })],
    ["key_ops null", jwk(k.rsa.publicKey, { key_ops: null })],
    ["key_ops [null]", jwk(k.rsa.publicKey, { key_ops: [null] })],
    ["key_ops [1]", jwk(k.rsa.publicKey, { key_ops: [1] })],
    ["x5c null", jwk(k.rsa.publicKey, { x5c: null })],
    ["x5c empty list", jwk(k.rsa.publicKey, { x5c: [] })],
    ["x5c [null]", jwk(k.rsa.publicKey, { x5c: [null] })],
    ["x5c in the URL alphabet", jwk(k.rsa.publicKey, { x5c: [b64(Buffer.from(certDer, "base64"))] })],
    ["x5c with padding", jwk(k.rsa.publicKey, { x5c: [paddedDer] })],
    ["x5c without its padding", jwk(k.rsa.publicKey, { x5c: [paddedDer.replace(/=+$/, "")] })],
    ["x5c with spaces inside", jwk(k.rsa.publicKey, { x5c: [`${certDer.slice(0, 20)} \t${certDer.slice(20)}`] })],
    ["x5c as PEM text", jwk(k.rsa.publicKey, { x5c: [k.rsaCertPem] })],
    ["x5c of 10 certificates", jwk(k.rsa.publicKey, { x5c: Array(10).fill(certDer) })],
    ["x5c of 11 certificates", jwk(k.rsa.publicKey, { x5c: Array(11).fill(certDer) })],
    ["kty null", { ...jwkRsa, kty: null }],
    ["kty only as KTY", { KTY: "RSA", n, e: jwkRsa["e"] }],
    ["kty only with a Kelvin sign (Go folds it to k)", { "\u212aty": "RSA", n, e: jwkRsa["e"] }],
    ["kty RSA and KTY EC", { ...jwkRsa, KTY: "EC" }],
    ["kty RSA and KTY null", { ...jwkRsa, KTY: null }],
    ["n null", { ...jwkRsa, n: null }],
    ["n all zero bytes", { ...jwkRsa, n: "AAAA" }],
    ["n with leading zero bytes", { ...jwkRsa, n: `AAAA${n}` }],
    ["n with '=' inside", { ...jwkRsa, n: `${n.slice(0, 8)}=${n.slice(8)}` }],
    ["n mixing both alphabets", { ...jwkRsa, n: `+${n.slice(1, -1)}-` }],
    ["n with a space", { ...jwkRsa, n: `${n.slice(0, 10)} ${n.slice(10)}` }],
    ["n padded, then a newline", { ...jwkRsa, n: `${Buffer.from(n, "base64url").toString("base64")}\n` }],
    ["e even", { ...jwkRsa, e: "AQAC" }],
    ["e zero", { ...jwkRsa, e: "AA" }],
    ["e empty", { ...jwkRsa, e: "" }],
    ["e of 2^64+1", { ...jwkRsa, e: "AQAAAAAAAAAB" }],
    ["e of 2^32+1 (parses, Go will not verify)", { ...jwkRsa, e: "AQAAAAE" }],
    ["d present: a private key needs p and q", { ...jwkRsa, d: "AQAB" }],
    ["D present: a private key, but no d", { ...jwkRsa, D: "AQAB" }],
    ["d, p and q present (only the public half is used)", { ...jwkRsa, d: "AQAB", p: "", q: null }],
    ["d null", { ...jwkRsa, d: null }],
    ["private with dp not base64", { ...(k.rsa.privateKey.export({ format: "jwk" }) as Record<string, unknown>), dp: "$$" }],
    ["public with p not base64 (an unknown member then)", { ...jwkRsa, p: "$$" }],
  ];
  for (const [title, variant] of jwkVariants) add(`JWK ${title}`, "io.jwt.decode_verify", rsToken, { cert: jwks(variant) });
  add("oct JWK with k in standard base64", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret??" }), { cert: jwks({ kty: "oct", k: Buffer.from("s3cret??").toString("base64") }) });
  add("oct JWK with k not a string", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }), { cert: jwks({ kty: "oct", k: 5 }) });
  add("oct JWK without k", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }), { cert: jwks({ kty: "oct" }) });
  add("OKP JWK with crv X25519", "io.jwt.decode_verify", token({ alg: "EdDSA", key: k.ed.privateKey }), { cert: jwks(jwk(generateKeyPairSync("x25519").publicKey)) });
  add("oct JWK with k not base64url", "io.jwt.decode_verify", token({ alg: "HS256", key: "s3cret" }), { cert: jwks({ kty: "oct", k: "s3cret!!" }) });
  add("EC JWK with a point off the curve", "io.jwt.decode_verify", es, { cert: jwks({ ...jwk(k.p256.publicKey), y: jwk(k.p256Other.publicKey)["y"] }) });
  const p256 = jwk(k.p256.privateKey);
  const ed = jwk(k.ed.privateKey);
  const edToken = token({ alg: "EdDSA", key: k.ed.privateKey });
  const bytes = (text: unknown) => Buffer.from(text as string, "base64url");
  const ecVariants: [string, string, Record<string, unknown>][] = [
    ["EC private JWK", es, p256],
    ["EC private JWK with a short d", es, { ...p256, d: b64(bytes(p256["d"]).subarray(1)) }],
    ["EC JWK with x zero-padded to 33 bytes", es, { ...jwk(k.p256.publicKey), x: b64(Buffer.concat([Buffer.from([0]), bytes(p256["x"])])) }],
    ["EC JWK with a short x", es, { ...jwk(k.p256.publicKey), x: b64(bytes(p256["x"]).subarray(1)) }],
    ["EC JWK with crv null", es, { ...jwk(k.p256.publicKey), crv: null }],
    ["EC JWK with crv P-224", es, { ...jwk(k.p256.publicKey), crv: "P-224" }],
    ["EC JWK with crv Ed25519", es, { ...jwk(k.p256.publicKey), crv: "Ed25519" }],
    ["EC JWK without y", es, { kty: "EC", crv: "P-256", x: p256["x"] }],
    ["OKP private JWK", edToken, ed],
    ["OKP private JWK with a short d", edToken, { ...ed, d: b64(Buffer.alloc(31, 1)) }],
    ["OKP private JWK with d null", edToken, { ...ed, d: null }],
    ["OKP JWK with crv Ed448", edToken, { ...jwk(k.ed.publicKey), crv: "Ed448" }],
    ["OKP JWK with crv P-256", edToken, { ...jwk(k.ed.publicKey), crv: "P-256" }],
    ["OKP JWK with a short x", edToken, { ...jwk(k.ed.publicKey), x: b64(Buffer.alloc(31, 1)) }],
    ["OKP JWK with an empty x", edToken, { ...jwk(k.ed.publicKey), x: "" }],
  ];
  for (const [title, signed, variant] of ecVariants) add(title, "io.jwt.decode_verify", signed, { cert: jwks(variant) });
  const hs = token({ alg: "HS256", key: "s3cret" });
  for (const [title, value] of [["empty", ""], ["null", null], ["with trailing bits set", "czNjcmV1"], ["of one character", "x"], ["of length 1 mod 4", `${b64("s3cret")}A`]] as [string, unknown][]) {
    add(`oct JWK with k ${title}`, "io.jwt.decode_verify", hs, { cert: jwks({ kty: "oct", k: value }) });
  }
  const small = { kty: "oct", k: "AQ" };
  add("JWKS of 1000 keys", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: [...Array(999).fill(small), jwkRsa] }) });
  add("JWKS of 1001 keys", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: [...Array(1000).fill(small), jwkRsa] }) });
  add("JWKS with keys null", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: null }) });
  add("JWKS with a null key", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: [null] }) });
  add("JWKS with a number as a key", "io.jwt.decode_verify", rsToken, { cert: JSON.stringify({ keys: [5] }) });

  // JSON.parse keeps only the last of duplicate member names; OPA's JWK parser reads every occurrence.
  const duplicateReason = "known gap, not a security choice: tollgate reads the key set with JSON.parse, which keeps only the " +
    "last of duplicate member names, while OPA checks (and for \"keys\", appends) every occurrence. Only hand-made key sets " +
    "repeat a member; tollgate never trusts a key that is not in the set as a last-wins JSON reader sees it.";
  const rsaText = JSON.stringify(jwkRsa).slice(1);
  cases.push({
    title: "JWK with kid 7 and then kid \"a\"",
    builtin: "io.jwt.decode_verify",
    args: [rsToken, { cert: `{"keys":[{"kid":7,"kid":"a",${rsaText}]}` }],
    deviation: { reason: duplicateReason, opa: undefined, tollgate: [true, { alg: "RS256", typ: "JWT" }, { sub: "carol" }] },
  });
  cases.push({
    title: "JWKS with two \"keys\" members, the signing key in the first",
    builtin: "io.jwt.decode_verify",
    args: [rsToken, { cert: `{"keys":[${JSON.stringify(jwkRsa)}],"keys":[${JSON.stringify(jwk(k.rsaOther.publicKey))}]}` }],
    deviation: { reason: duplicateReason, opa: [true, { alg: "RS256", typ: "JWT" }, { sub: "carol" }], tollgate: [false, {}, {}] },
  });
  return cases;
}
