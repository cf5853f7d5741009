import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createHash, createHmac } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { buildWasm, capabilitiesFile, loadPolicySync, repoRoot, signJwt, wireValue } from "./builtins-support.js";

const POLICY = `package tollgate.e2e

claims := payload if {
	[valid, _, payload] := io.jwt.decode_verify(input.token, {"secret": input.secret, "aud": "tollgate"})
	valid
}

default token_valid := false

token_valid if io.jwt.decode_verify(input.token, {"secret": input.secret, "aud": "tollgate"})[0]

garbage_token := io.jwt.decode_verify("garbage", {"secret": "x"})

first_now := time.now_ns()

second_now := time.now_ns()

now_stable := first_now == second_now

now_seconds := time.now_ns() / 1000000000

now_sub_microsecond := time.now_ns() % 1000

body_sha256 := crypto.sha256(input.body)

body_hmac := crypto.hmac.sha256(input.body, input.secret)

hex_roundtrip := hex.decode(hex.encode(input.body))

body_b64 := base64url.encode_no_pad(input.body)

b64_roundtrip := base64url.decode(body_b64)

exact_ns := time.parse_rfc3339_ns("2023-11-14T22:13:20.123456789Z")

exact_ns_matches := exact_ns == 1700000000123456789
`;

const SECRET = "e2e-secret";
const EXP = 1_700_000_600;

type Loaded = ReturnType<typeof loadPolicySync>;

function evaluate(loaded: Loaded, input: unknown): Record<string, unknown> {
  const rs = loaded.evaluate(input, "tollgate/e2e") as [{ result: Record<string, unknown> }];
  return rs[0].result;
}

describe("a Rego policy compiled with tollgate's capabilities runs on opa-wasm with the host built-ins", () => {
  let wasm: Buffer;
  beforeAll(() => {
    const built = buildWasm({ "e2e.rego": POLICY }, ["tollgate/e2e"]);
    if ("failed" in built) throw new Error(built.failed.stdout + built.failed.stderr);
    wasm = built.wasm;
  });

  it("JWT, time, crypto, hex and base64url built-ins give the expected values in one evaluation", () => {
    let reads = 0;
    const host = createHostBuiltins({ clock: () => (reads++, 1_700_000_000_987_654_321n) });
    const loaded = loadPolicySync(wasm, undefined, host.builtins);
    const token = signJwt({ alg: "HS256", key: SECRET, payload: { sub: "alice", aud: "tollgate", exp: EXP } });
    host.beginEvaluation();
    const result = evaluate(loaded, { token, secret: SECRET, body: "héllo" });
    expect(result["now_seconds"]).toBeCloseTo(1_700_000_000.987_654_321, 5);
    expect(result).toEqual({
      claims: { sub: "alice", aud: "tollgate", exp: EXP },
      token_valid: true,
      first_now: 1_700_000_000_987_654_400, // the same integer as JSON.parse reads it
      second_now: 1_700_000_000_987_654_400,
      now_stable: true,
      now_seconds: result["now_seconds"],
      now_sub_microsecond: 321, // exact: no rounding to a double on the way into WASM
      body_sha256: createHash("sha256").update("héllo").digest("hex"),
      body_hmac: createHmac("sha256", SECRET).update("héllo").digest("hex"),
      hex_roundtrip: "héllo",
      body_b64: Buffer.from("héllo").toString("base64url"),
      b64_roundtrip: "héllo",
      exact_ns: 1_700_000_000_123_456_800,
      exact_ns_matches: true,
    });
    expect(reads).toBe(1);
    expect(result).not.toHaveProperty("garbage_token");
  });

  it("time.now_ns – one clock read per evaluation: equal within it, fresh after the next beginEvaluation()", () => {
    let tick = 0n;
    const host = createHostBuiltins({ clock: () => 1_000_000_000_000_000_000n + ++tick * 1_000_000_000n });
    const loaded = loadPolicySync(wasm, undefined, host.builtins);
    const input = { token: "x", secret: SECRET, body: "" };
    host.beginEvaluation();
    const a = evaluate(loaded, input);
    host.beginEvaluation();
    const b = evaluate(loaded, input);
    expect([a["first_now"], a["second_now"], a["now_seconds"]]).toEqual([1_000_000_001_000_000_000, 1_000_000_001_000_000_000, 1_000_000_001]);
    expect([b["first_now"], b["second_now"], b["now_seconds"]]).toEqual([1_000_000_002_000_000_000, 1_000_000_002_000_000_000, 1_000_000_002]);
    expect(tick).toBe(2n);
  });

  it("time.now_ns – beginEvaluation(ns) pins an explicit time, and decode_verify's exp check follows it", () => {
    const host = createHostBuiltins({ clock: () => 0n });
    const loaded = loadPolicySync(wasm, undefined, host.builtins);
    const token = signJwt({ alg: "HS256", key: SECRET, payload: { sub: "alice", aud: "tollgate", exp: EXP } });
    host.beginEvaluation(BigInt(EXP - 1) * 1_000_000_000n);
    expect(evaluate(loaded, { token, secret: SECRET, body: "" })["token_valid"]).toBe(true);
    host.beginEvaluation(BigInt(EXP) * 1_000_000_000n);
    const expired = evaluate(loaded, { token, secret: SECRET, body: "" });
    expect(expired["token_valid"]).toBe(false);
    expect(expired).not.toHaveProperty("claims");
    expect(expired["now_seconds"]).toBe(EXP);
  });

  it("time.now_ns is handed to WASM as exact JSON text, not a rounded double", () => {
    const host = createHostBuiltins({ clock: () => 1_700_000_000_123_456_789n });
    host.beginEvaluation();
    expect(wireValue((host.builtins["time.now_ns"] as () => unknown)())).toBe(1_700_000_000_123_456_789n);
  });
});

describe("capabilities", () => {
  it.each([
    ["http.send", `r := http.send({"method": "get", "url": "http://127.0.0.1:1"})`],
    ["net.lookup_ip_addr", `r := net.lookup_ip_addr("localhost")`],
    ["time.format", `r := time.format(0)`],
  ])("a policy calling %s, which tollgate cannot run, fails at opa build with OPA's message naming it", (name, rule) => {
    const built = buildWasm({ "p.rego": `package t\n\n${rule}\n` }, ["t/r"]);
    expect("failed" in built).toBe(true);
    if (!("failed" in built)) return;
    expect(built.failed.status).not.toBe(0);
    expect(built.failed.stdout + built.failed.stderr).toContain(`p.rego:3: rego_type_error: undefined function ${name}`);
  });

  it("lists exactly the native WASM, opa-wasm SDK and host built-ins; every host built-in is listed", () => {
    const caps = JSON.parse(readFileSync(capabilitiesFile, "utf8")) as { builtins: { name: string }[]; wasm_abi_versions: unknown[]; features: string[] };
    const names = caps.builtins.map((b) => b.name);
    const hostNames = JSON.parse(readFileSync(path.join(repoRoot, "src/policy/wasm/builtins/names.json"), "utf8")) as string[];
    expect(names).toEqual([...names].sort());
    expect(hostNames.filter((n) => !names.includes(n))).toEqual([]);
    for (const n of ["plus", "count", "regex.match", "base64url.decode", "sprintf", "yaml.marshal", "eq", "assign", "internal.member_2"]) expect(names).toContain(n);
    for (const n of ["http.send", "net.lookup_ip_addr", "time.format", "opa.runtime", "rand.intn", "uuid.rfc4122"]) expect(names).not.toContain(n);
    expect(caps.wasm_abi_versions).toEqual([{ version: 1, minor_version: 1 }, { version: 1, minor_version: 2 }]);
  });

  it("names.json lists exactly the built-ins the factory provides", () => {
    const hostNames = JSON.parse(readFileSync(path.join(repoRoot, "src/policy/wasm/builtins/names.json"), "utf8")) as string[];
    expect(Object.keys(createHostBuiltins().builtins).sort()).toEqual(hostNames);
  });

  it("src/policy/capabilities.json is what scripts/gen-capabilities.mjs generates now (--check)", () => {
    const out = execFileSync(process.execPath, [path.join(repoRoot, "scripts/gen-capabilities.mjs"), "--check"], { encoding: "utf8", cwd: repoRoot });
    expect(out).toMatch(/is up to date \(\d+ built-ins\)/);
  });
});
