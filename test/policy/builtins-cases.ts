import { jwk, pem, token, type Keys } from "./builtins-support.js";

/**
 * One call of a host built-in with JSON arguments. builtins-parity.test.ts runs every case
 * through `opa eval` (OPA's own Go implementation), through tollgate's host built-in directly,
 * and through a policy compiled to WASM; all three must give the same answer.
 */
export interface BuiltinCase {
  title: string;
  builtin: string;
  args: unknown[];
  /** OPA v1.22.3 itself panics (crashes `opa eval`) on this input; tollgate must answer undefined instead. */
  opaPanics?: true;
  /**
   * A documented deviation: OPA answers `opa`, tollgate deliberately answers `tollgate`
   * (undefined stands for a failed built-in). The test checks both, so the note stays true.
   */
  deviation?: { reason: string; opa: unknown; tollgate: unknown };
}

export const T0 = 1_700_000_000; // seconds; the `time` constraint below is T0 in ns
export const AT_T0 = T0 * 1e9;

/** A case collector: `add(title, builtin, ...args)`, or `push` for cases with extra fields. */
export function caseList(): { cases: BuiltinCase[]; add: (title: string, builtin: string, ...args: unknown[]) => void } {
  const cases: BuiltinCase[] = [];
  return { cases, add: (title, builtin, ...args) => void cases.push({ title, builtin, args }) };
}

/** Tokens and key strings several case groups share. */
export interface Shared {
  /** An RS256 token over `payload`, signed with keys.rsa. */
  rs: (payload: Record<string, unknown>, header?: Record<string, unknown>) => string;
  rsToken: string;
  rsCert: string;
  jwkRsa: Record<string, unknown>;
  /** decode_verify constraints: keys.rsa's PEM, a time in ns, plus extra constraints. */
  at: (time: number, extra?: Record<string, unknown>) => Record<string, unknown>;
  /** An HS256 token (secret "s") with verbatim header and payload JSON text. */
  hs: (header: string, payload: string) => string;
  /** An ES256 token (keys.p256), its encoded header and payload, and its raw r||s signature. */
  es: string;
  eh: string;
  ep: string;
  rawSig: Buffer;
}

export function shared(k: Keys): Shared {
  const rs = (payload: Record<string, unknown>, header?: Record<string, unknown>) =>
    token({ alg: "RS256", key: k.rsa.privateKey, payload, ...(header ? { header } : {}) });
  const rsCert = pem(k.rsa.publicKey);
  const es = token({ alg: "ES256", key: k.p256.privateKey });
  const [eh, ep, esig] = es.split(".") as [string, string, string];
  return {
    rs, rsCert, es, eh, ep,
    rsToken: rs({ sub: "carol" }),
    jwkRsa: jwk(k.rsa.publicKey),
    at: (time, extra = {}) => ({ cert: rsCert, time, ...extra }),
    hs: (header, payload) => token({ alg: "HS256", key: "s", header, payload }),
    rawSig: Buffer.from(esig, "base64url"),
  };
}

/** crypto.*, hex/base64url/urlquery and time.* cases. */
export function otherCases(): BuiltinCase[] {
  const cases: BuiltinCase[] = [];
  const add = (builtin: string, ...args: unknown[]) => cases.push({ title: `(${args.map((a) => JSON.stringify(a)).join(", ")})`, builtin, args });
  const texts = ["", "abc", "héllo ✓ 🎉", "a\nb"];
  for (const t of texts) {
    for (const f of ["crypto.md5", "crypto.sha1", "crypto.sha256", "base64url.encode_no_pad", "hex.encode", "urlquery.encode"]) add(f, t);
    for (const f of ["crypto.hmac.md5", "crypto.hmac.sha1", "crypto.hmac.sha256", "crypto.hmac.sha512"]) add(f, t, "k€y");
  }
  for (const t of ["f", "fo", "hello?>~"]) add("base64url.encode_no_pad", t);
  add("urlquery.encode", "a b&c=d/é~._-!*'()");
  add("urlquery.encode", "100%");
  add("crypto.sha256", 5);
  add("crypto.hmac.sha256", "x", 5);
  add("crypto.hmac.equal", "abc", "abc");
  add("crypto.hmac.equal", "abc", "abd");
  add("crypto.hmac.equal", "abc", "abcd");
  add("crypto.hmac.equal", "", "");
  add("crypto.hmac.equal", "a", 1);
  add("hex.encode", 1);
  add("base64url.encode_no_pad", null);
  add("urlquery.encode_object", { a: [1] });
  add("urlquery.encode_object", { a: null });
  add("urlquery.encode", "\u0000\u007f\u0080");
  for (const h of ["", "6869", "E282AC", "e282ac", "4A4b", "c3bc", "6G", "abc", "0", "ff", "zz"]) add("hex.decode", h);
  for (const q of ["a+b%20c", "a+b%20c%2F%C3%A9", "%zz", "%4", "%E2%82%AC", "100%", "plain", "%2B%2b", "a%"]) add("urlquery.decode", q);
  add("urlquery.encode_object", { b: "2 3", a: ["x", "y"], c: [] });
  add("urlquery.encode_object", { b: ["2", "1"], a: "x y", e: [] });
  add("urlquery.encode_object", { a: 1 });
  add("urlquery.encode_object", { "k y": "v&w" });
  for (const q of ["a=1&b=2&a=3", "a=1&b=2&a=3&c", "a", "=x", "=v&&k=", "a=%zz", "a=1;b=2", "", "&&a=b&", "x+y=1%202"]) add("urlquery.decode_object", q);

  for (const s of [
    "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.1234567891234Z", "2024-01-02T03:04:05,5Z", "2024-01-02t03:04:05Z",
    "2024-02-30T03:04:05Z", "2024-01-02T03:04:60Z", "2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05+99:00",
    "2024-01-02T03:04:05+01:60", "2024-01-02T03:04:05.Z", "0001-01-01T00:00:00Z", "2024-01-02T03:04:05-07:30",
    "2024-1-02T03:04:05Z", "2024-01-02T03:04:05+0100", "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
    "1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.145224191Z", "2024-01-02T24:00:00Z", "1900-01-01T00:00:00Z",
    "2024-01-02T3:04:05Z", "2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
    "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-01-02T03:04:05.999999999999Z", "2024-01-02T03:04:05-24:60",
    "2023-11-14T22:13:20.5-07:30", "2023-11-14T22:13:20+25:00", "2023-11-14T22:13:20-01:61", "2023-11-14 22:13:20Z",
    "2023-11-14T25:13:20Z", "1600-01-01T00:00:00Z", "nope",
  ]) add("time.parse_rfc3339_ns", s);
  add("time.parse_rfc3339_ns", 5);

  for (const d of [
    "1h30m", "1.5h", "-2m", "+3s", "1d", "1.5d", "1w", "1y", "2d3h", "", "1", "3x", "0", "-0", ".5s", "1.s", "1us", "1µs", "1μs",
    "9223372036854775807ns", "9223372036854775808ns", "1h-1m", "1e3s", "1_000s", " 1s", "1s ", "1S", "1m1", "-1.5h", "0.000000001s",
    "0.0000000001s", "2562047h", "2562048h", "1h1h", "100000000000000000000s", "1.0000000001s", "h", "-",
    "-2m3.5s", "1us2ns", "1w2d", "-1y", "1d1q", "3000000h", "1hm",
  ]) add("time.parse_duration_ns", d);

  const ns = 1_704_164_645_000_000_000; // 2024-01-02T03:04:05Z, a Tuesday
  for (const t of [0, ns, -1_000_000_000, -86_401e9, [ns, "UTC"], [ns, "America/New_York"], [ns, "Asia/Kolkata"], [ns, ""], [ns, "Nowhere/City"], "x", []]) {
    add("time.date", t);
    add("time.clock", t);
    add("time.weekday", t);
  }
  add("time.add_date", ns, 1, 2, 3);
  add("time.add_date", ns, 0, 1, 0);
  add("time.add_date", 1_706_659_200_000_000_000, 0, 1, 0); // Jan 31 + 1 month normalises into March
  add("time.add_date", [1_678_550_400e9, "America/New_York"], 0, 0, 1); // across the DST change
  add("time.add_date", ns, -1, -13, -400);
  add("time.add_date", ns, 1.5, 0, 0);
  add("time.diff", ns, 0);
  add("time.diff", 0, ns);
  add("time.diff", [ns, "Asia/Kolkata"], [0, "America/New_York"]);
  add("time.diff", 1_709_164_800_000_000_000, 1_706_659_200_000_000_000); // 2024-02-29 vs 2024-01-31
  add("time.date", 1.5);
  add("time.date", 1e30);
  add("time.date", [ns]);
  add("time.date", [ns, 5]);
  add("time.date", [ns, "Local"]);
  add("time.clock", -1);
  add("time.weekday", -86_400_000_000_000);
  add("time.add_date", ns, 300, 0, 0);
  add("time.add_date", ns, 10_000, 0, 0);
  add("time.add_date", -9_000_000_000_000_000_000, -1, 0, 0);
  add("time.add_date", ns, 0, 0, 1e6);
  add("time.clock", -1_500_000_000);
  add("time.diff", 0, [ns, "America/New_York"]);
  add("time.diff", -3_000_000_000_000_000_000, 3_000_000_000_000_000_000);
  add("time.add_date", ns, 0, 0, 0);
  add("time.add_date", "x", 0, 0, 0);
  add("time.diff", ns, ns);
  add("time.diff", [ns, "Nowhere/City"], 0);
  // Zone rules: DST edges, a historical offset (London kept UTC+1 all of 1970) and local mean time.
  const dstStart = 1_710_055_800_000_000_000; // 2024-03-10T07:30:00Z, New York springs forward at 07:00Z
  const dstEnd = 1_730_611_800_000_000_000; // 2024-11-03T05:30:00Z, inside New York's repeated hour
  for (const t of [[dstStart, "America/New_York"], [dstEnd, "America/New_York"], [0, "Europe/London"], [-2_000_000_000_000_000_000, "America/New_York"], [ns, "Australia/Lord_Howe"]]) {
    add("time.date", t);
    add("time.clock", t);
    add("time.weekday", t);
  }
  add("time.diff", [dstEnd, "America/New_York"], [dstStart, "America/New_York"]);
  add("time.diff", [0, "Europe/London"], [0, "UTC"]);
  add("time.date", 9_223_372_036_854_775_807);
  return cases;
}
