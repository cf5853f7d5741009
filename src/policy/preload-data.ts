import { createRequire } from "node:module";
import { setImmediate as nextTurn } from "node:timers/promises";
import { TollgateError } from "../errors.js";
import { InlineWorker } from "./inline-worker.js";
import type { BuiltinCall } from "./recorded-builtins.js";
import type { CompiledPolicy, PreloadedData } from "./wasm/wasm-engine.js";

/**
 * Loading data.json into a policy's WebAssembly memory (opa-wasm's setData, OPA's own JSON parser
 * inside the module) costs more than linearly in its size: measured 0.5-3 ms for the shipped
 * data.json, 20-160 ms at 1,000 tenants, 0.4-0.9 s at 10,000, about 20 s at 50,000. On the main
 * thread no Check is answered meanwhile. So a worker thread instantiates the same compiled module,
 * loads the data there, and hands back the finished memory; the engine on the main thread copies it
 * in (linear, memcpy speed). The worker is inline code so it runs the same from src/ (tests) and
 * dist/.
 *
 * Given the policy's bytes instead of a compiled module, the worker also compiles it and hands the
 * module back (a WebAssembly.Module posted between threads shares its compiled code). Given an
 * input, the worker then evaluates every entrypoint once with it: V8 compiles a WebAssembly
 * function on its first call (lazy compilation), into code every thread holding the module shares,
 * so the functions a Check runs are compiled here instead of during the first Checks the new
 * revision answers (the shipped policy's first evaluation after a reload: 1.2-2.1 ms before,
 * 0.6-1.0 ms after, side by side), and the main thread's instantiation finds them compiled too.
 * tollgate's host built-ins are not here: with the calls the input's evaluation made on the main
 * thread (src/policy/recorded-builtins.ts) the same calls are answered alike, and the evaluation
 * follows the input's whole path; without, it stops at the first built-in.
 */
const LOADER_SOURCE = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => {
  try {
    const opa = require(m.opaPath);
    const module = m.module || new WebAssembly.Module(m.wasm);
    // tollgate's built-ins answer here only what they answered for the warm-up input (recorded).
    const answers = new Map((m.warmCalls || []).map(([name, args, result]) => [name + "\\0" + args, result]));
    const builtins = {};
    for (const [name] of m.warmCalls || []) {
      builtins[name] = (...args) => {
        const key = name + "\\0" + JSON.stringify(args);
        if (!answers.has(key)) throw new Error(name + ": not a recorded call");
        return answers.get(key);
      };
    }
    const policy = opa.loadPolicySync(module, { initial: m.initialPages, maximum: m.maximumPages }, builtins);
    policy.setData(new TextEncoder().encode(m.data).buffer);
    const memory = new Uint8Array(policy.mem.buffer).slice(0, policy.dataHeapPtr).buffer;
    const pages = policy.mem.buffer.byteLength / 65536;
    let warmed = 0;
    if (m.warmInput !== undefined) {
      const input = JSON.parse(m.warmInput);
      for (const entrypoint of Object.keys(policy.entrypoints)) {
        try { policy.evaluate(input, entrypoint); warmed++; } catch {}
      }
    }
    parentPort.postMessage(
      { id: m.id, module: m.module ? undefined : module, memory, pages, baseHeapPtr: policy.baseHeapPtr, dataAddr: policy.dataAddr, dataHeapPtr: policy.dataHeapPtr, warmed },
      [memory],
    );
  } catch (err) {
    parentPort.postMessage({ id: m.id, failed: String((err && err.message) || err) });
  }
});
`;

const opaPath = createRequire(import.meta.url).resolve("@open-policy-agent/opa-wasm");

type Reply = ({ failed?: undefined; module?: CompiledPolicy; warmed: number } & PreloadedData & { id: number }) | { id: number; failed: string };

const loader = new InlineWorker<Reply>(LOADER_SOURCE, "data loader");

/**
 * A typical Check's input (an authenticated JSON POST, as src/authz/input.ts builds it): what the
 * worker warms a revision with before any Check has been evaluated (the first load). Builtins only
 * tollgate supplies are missing in the worker: an evaluation reaching one stops there, keeping what
 * it compiled so far.
 */
export const WARM_INPUT = {
  attributes: {
    source: { address: { socketAddress: { address: "10.0.0.1", portValue: 50000 } } },
    destination: { address: { socketAddress: { address: "10.0.0.2", portValue: 8080 } } },
    request: {
      time: "2026-01-01T00:00:00Z",
      http: {
        id: "1",
        method: "POST",
        path: "/v1/chat/completions",
        host: "gateway.local",
        scheme: "http",
        protocol: "HTTP/1.1",
        headers: { ":method": "POST", ":path": "/v1/chat/completions", ":authority": "gateway.local", "content-type": "application/json", authorization: "Bearer warm-up-key" },
        body: '{"model":"warm-up","max_tokens":16,"messages":[{"role":"user","content":"hello"}]}',
      },
    },
  },
  version: { ext_authz: "v3", encoding: "protojson" },
  parsed_path: ["v1", "chat", "completions"],
  parsed_query: {},
  parsed_body: { model: "warm-up", max_tokens: 16, messages: [{ role: "user", content: "hello" }] },
  truncated_body: false,
};

/** How long serialising the data may hold the event loop before it yields a turn. */
const SLICE_MS = 2;

/** Values a subtree may hold to be serialised in one call. */
const SMALL_SUBTREE = 256;

/** `budget` less the values in `value`'s subtree; negative (and stops counting) past the budget. */
function nodesLeft(value: unknown, budget: number): number {
  budget -= 1;
  if (value === null || typeof value !== "object") return budget;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    budget = nodesLeft(child, budget);
    if (budget < 0) return budget;
  }
  return budget;
}

/**
 * JSON.stringify(data) for data read from JSON (plain objects, arrays, strings, numbers, booleans,
 * null), the same text, built a piece at a time with a turn of the event loop every SLICE_MS:
 * serialising megabytes of tenants in one call held the loop for 50-70 ms.
 */
export async function stringifyInSlices(data: unknown): Promise<string> {
  const parts: string[] = [];
  let since = performance.now();
  const walk = async (value: unknown): Promise<void> => {
    if (performance.now() - since > SLICE_MS) {
      await nextTurn();
      since = performance.now();
    }
    if (value === null || typeof value !== "object") {
      parts.push(JSON.stringify(value));
      return;
    }
    // Small subtrees in one call: the slicing is for the large ones (all tenants, all keys).
    if (nodesLeft(value, SMALL_SUBTREE) >= 0) {
      parts.push(JSON.stringify(value));
      return;
    }
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
    parts.push(Array.isArray(value) ? "[" : "{");
    let first = true;
    for (const [key, child] of entries) {
      if (!first) parts.push(",");
      first = false;
      if (!Array.isArray(value)) parts.push(`${JSON.stringify(key)}:`);
      await walk(child);
    }
    parts.push(Array.isArray(value) ? "]" : "}");
  };
  await walk(data);
  return parts.join("");
}

/**
 * The policy's linear memory with `data` loaded, built in a worker thread from the compiled
 * `module`, or from the policy's WebAssembly bytes (then compiled there, and the module returned
 * too). With `warmInput` (JSON text), every entrypoint is evaluated once with it first, the host
 * built-ins answering `warmCalls` (recorded for that input) and nothing else; `warmed` counts the
 * evaluations that ran to the end. Rejects with
 * policy_build_error when the module cannot be compiled or the data cannot be loaded (as setData
 * would throw).
 */
export async function preloadData(
  source: CompiledPolicy | Uint8Array,
  data: unknown,
  pages: { initial: number; maximum: number },
  warmInput?: string,
  warmCalls?: BuiltinCall[],
): Promise<PreloadedData & { module?: CompiledPolicy; warmed: number }> {
  const text = await stringifyInSlices(data);
  const wasm = source instanceof Uint8Array ? source : undefined;
  const reply = await loader.request({ opaPath, module: wasm ? undefined : source, wasm, data: text, initialPages: pages.initial, maximumPages: pages.maximum, warmInput, warmCalls });
  if (reply.failed !== undefined) throw new TollgateError("policy_build_error", `cannot load policy data: ${reply.failed}`);
  return { module: reply.module, memory: reply.memory, pages: reply.pages, baseHeapPtr: reply.baseHeapPtr, dataAddr: reply.dataAddr, dataHeapPtr: reply.dataHeapPtr, warmed: reply.warmed };
}
