import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { PolicyActivator } from "../../src/policy/activate.js";
import { buildPolicies } from "../../src/policy/build.js";
import * as preload from "../../src/policy/preload-data.js";
import { forLoader, recordingBuiltins } from "../../src/policy/recorded-builtins.js";
import { PolicyRegistry } from "../../src/policy/registry.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { MEMORY_PAGES } from "../../src/policy/wasm/wasm-engine.js";
import { createLogger } from "../../src/observability/logger.js";
import { writePolicyDir } from "../support/app.js";

vi.mock("../../src/policy/preload-data.js", { spy: true });

// A policy whose decision needs a host built-in (crypto.sha256, as the shipped pack's identity)
// before the rest of it runs: the loader thread warming a new revision has none of tollgate's.
const POLICY = (tag: string) => `package envoy.authz

digest := crypto.sha256(input.key)

allow := {"tenant": data.tenants[digest], "tag": "${tag}"}
`;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const DATA = { tenants: { [sha256("key-1")]: "acme" } };

async function built(tag: string) {
  const dir = writePolicyDir({ "p.rego": POLICY(tag), "data.json": JSON.stringify(DATA) });
  return buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false });
}

describe("host built-ins recorded for the loader thread's warm-up", () => {
  it("keep the calls of the latest evaluation only, and answer exactly as the built-ins they wrap", () => {
    const host = recordingBuiltins(createHostBuiltins());
    const sha = host.builtins["crypto.sha256"] as (s: string) => string;
    host.beginEvaluation();
    expect(sha("a")).toBe(sha256("a"));
    expect(sha("b")).toBe(sha256("b"));
    expect(host.calls()).toEqual([["crypto.sha256", ["a"], sha256("a")], ["crypto.sha256", ["b"], sha256("b")]]);
    host.beginEvaluation();
    expect(host.calls()).toEqual([]);
    sha("c");
    expect(forLoader(host.calls(), 1000)).toEqual([["crypto.sha256", '["c"]', sha256("c")]]);
  });

  it("are left out when their arguments are larger than the warm-up input may be", () => {
    const host = recordingBuiltins(createHostBuiltins());
    host.beginEvaluation();
    (host.builtins["crypto.sha256"] as (s: string) => string)("x".repeat(2000));
    expect(forLoader(host.calls(), 1000)).toBeUndefined();
  });

  it("let the loader's evaluation run past the built-in, for the recorded arguments only", async () => {
    const policy = await built("a");
    const input = JSON.stringify({ key: "key-1" });
    const recorded = [["crypto.sha256", '["key-1"]', sha256("key-1")] as [string, string, unknown]];
    const other = [["crypto.sha256", '["key-2"]', sha256("key-2")] as [string, string, unknown]];
    expect((await preload.preloadData(policy.wasm, policy.data, MEMORY_PAGES, input)).warmed).toBe(0);
    expect((await preload.preloadData(policy.wasm, policy.data, MEMORY_PAGES, input, recorded)).warmed).toBe(1);
    expect((await preload.preloadData(policy.wasm, policy.data, MEMORY_PAGES, input, other)).warmed).toBe(0);
  });

  it("the activator warms the next revision with the latest Check's input and its built-in answers", async () => {
    const registry = new PolicyRegistry({ logger: createLogger({ level: "silent" }) });
    const activator = new PolicyActivator({ registry, hostBuiltins: () => createHostBuiltins(), logger: createLogger({ level: "silent" }) });
    const spy = vi.mocked(preload.preloadData);
    const first = await activator.activate({ kind: "folder", path: "/test" }, () => built("a"));
    expect(first.engine.evaluate({ key: "key-1" })).toEqual([{ result: { tenant: "acme", tag: "a" } }]);
    spy.mockClear();
    await activator.activate({ kind: "folder", path: "/test" }, () => built("b"));
    expect(spy).toHaveBeenCalledTimes(1);
    const [, , , input, calls] = spy.mock.calls[0]!;
    expect(JSON.parse(input!)).toEqual({ key: "key-1" });
    expect(calls).toEqual([["crypto.sha256", '["key-1"]', sha256("key-1")]]);
    expect((await spy.mock.results[0]!.value as { warmed: number }).warmed).toBe(1);
  });
});
