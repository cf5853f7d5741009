import { describe, expect, it } from "vitest";
import { PolicyActivator } from "../../src/policy/activate.js";
import { buildPolicies } from "../../src/policy/build.js";
import type { PolicyEngine } from "../../src/policy/engine.js";
import type { PolicyOrigin } from "../../src/policy/origin.js";
import { PolicyRegistry } from "../../src/policy/registry.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { createLogger } from "../../src/observability/logger.js";
import { writePolicyDir } from "../support/app.js";

const origin: PolicyOrigin = { kind: "folder", path: "/test" };

/** A revision of a one-rule policy; `tag` makes each build a different revision. */
async function built(tag: string, rule = `allow if input.user == "${tag}"`) {
  const dir = writePolicyDir({ "p.rego": `package envoy.authz\n\ndefault allow := false\n\n${rule}\n` });
  return buildPolicies({ dir, entrypoint: "envoy/authz/allow", runTests: false });
}

/** An activator whose host built-ins count evaluations, and what it saw at each swap. */
function setUp(prepare?: (engine: PolicyEngine) => void) {
  let evaluations = 0;
  const atSwap: { revision: string; evaluationsSoFar: number }[] = [];
  const registry = new PolicyRegistry({ logger: createLogger({ level: "silent" }), onActivate: (rev) => atSwap.push({ revision: rev.revision, evaluationsSoFar: evaluations }) });
  const hostBuiltins = () => {
    const host = createHostBuiltins();
    const begin = host.beginEvaluation.bind(host);
    host.beginEvaluation = () => {
      evaluations++;
      begin();
    };
    return host;
  };
  const activator = new PolicyActivator({ registry, hostBuiltins, logger: createLogger({ level: "silent" }), prepare });
  return { registry, activator, atSwap };
}

describe("a revision is warmed on the serving thread before it goes live", () => {
  it("runs prepare on the new engine while the previous revision still serves, then evaluates it, then swaps", async () => {
    const seen: { engineRevision: string; serving: string | undefined }[] = [];
    const { registry, activator, atSwap } = setUp((engine) => seen.push({ engineRevision: engine.revision, serving: registry.current()?.revision }));
    const first = await activator.activate(origin, () => built("a"));
    // A Check on the first revision: its input is what the next revision is warmed with.
    expect(first.engine.evaluate({ user: "a" })).toEqual([{ result: true }]);
    const second = await activator.activate(origin, () => built("b"));

    expect(seen).toEqual([
      { engineRevision: first.revision, serving: undefined },
      { engineRevision: second.revision, serving: first.revision },
    ]);
    // Each engine had evaluated twice when it went live (the sample whole, its warm-up, then pruned to
    // what the policy reads and compared: src/policy/input-paths.ts); the first revision's Check came after.
    expect(atSwap).toEqual([
      { revision: first.revision, evaluationsSoFar: 2 },
      { revision: second.revision, evaluationsSoFar: 5 },
    ]);
    expect(registry.current()?.revision).toBe(second.revision);
  });

  it("a prepare that throws, or an input the new policy cannot evaluate, does not stop the revision", async () => {
    const { registry, activator } = setUp(() => {
      throw new Error("guard pattern did not compile");
    });
    const first = await activator.activate(origin, () => built("a"));
    first.engine.evaluate({ user: "a" });
    // Evaluating the remembered input fails in the new policy (a conflict: two values for allow).
    const conflicting = await activator.activate(origin, () => built("c", 'allow := true if input.user\nallow := false if input.user'));
    expect(registry.current()?.revision).toBe(conflicting.revision);
    expect(() => conflicting.engine.evaluate({ user: "a" })).toThrow();
  });
});
