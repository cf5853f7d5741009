import { createRequire } from "node:module";
import { TollgateError } from "../errors.js";
import { InlineWorker } from "./inline-worker.js";
import type { CompiledPolicy, PreloadedData } from "./wasm/wasm-engine.js";

/**
 * Loading data.json into a policy's WebAssembly memory (opa-wasm's setData, OPA's own JSON parser
 * inside the module) costs more than linearly in its size: measured 0.5-3 ms for the shipped
 * data.json, 20-160 ms at 1,000 tenants, 0.4-0.9 s at 10,000, about 20 s at 50,000. On the main
 * thread no Check is answered meanwhile. So a worker thread instantiates the same compiled module,
 * loads the data there, and hands back the finished memory; the engine on the main thread copies it
 * in (linear, memcpy speed). The worker is inline code so it runs the same from src/ (tests) and
 * dist/.
 */
const LOADER_SOURCE = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => {
  try {
    const opa = require(m.opaPath);
    const policy = opa.loadPolicySync(m.module, { initial: m.initialPages, maximum: m.maximumPages });
    policy.setData(new TextEncoder().encode(m.data).buffer);
    const memory = new Uint8Array(policy.mem.buffer).slice(0, policy.dataHeapPtr).buffer;
    parentPort.postMessage(
      { id: m.id, memory, pages: policy.mem.buffer.byteLength / 65536, baseHeapPtr: policy.baseHeapPtr, dataAddr: policy.dataAddr, dataHeapPtr: policy.dataHeapPtr },
      [memory],
    );
  } catch (err) {
    parentPort.postMessage({ id: m.id, failed: String((err && err.message) || err) });
  }
});
`;

const opaPath = createRequire(import.meta.url).resolve("@open-policy-agent/opa-wasm");

type Reply = ({ failed?: undefined } & PreloadedData & { id: number }) | { id: number; failed: string };

const loader = new InlineWorker<Reply>(LOADER_SOURCE, "data loader");

/** How long serialising the data may hold the event loop before it yields a turn. */
const SLICE_MS = 2;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

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
 * `module`. Rejects with policy_build_error when the data cannot be loaded (as setData would throw).
 */
export async function preloadData(module: CompiledPolicy, data: unknown, pages: { initial: number; maximum: number }): Promise<PreloadedData> {
  const text = await stringifyInSlices(data);
  const reply = await loader.request({ opaPath, module, data: text, initialPages: pages.initial, maximumPages: pages.maximum });
  if (reply.failed !== undefined) throw new TollgateError("policy_build_error", `cannot load policy data: ${reply.failed}`);
  return { memory: reply.memory, pages: reply.pages, baseHeapPtr: reply.baseHeapPtr, dataAddr: reply.dataAddr, dataHeapPtr: reply.dataHeapPtr };
}
