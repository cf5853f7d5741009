import { describe, expect, it } from "vitest";
import { InlineWorker } from "../../src/policy/inline-worker.js";

// A thread that doubles n, or exits when asked: the shape of the opa spawner and the data loader.
const SOURCE = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => {
  if (m.exit) process.exit(3);
  parentPort.postMessage({ id: m.id, doubled: m.n * 2 });
});
`;

describe("InlineWorker", () => {
  it("answers each request with its own reply, in any number at once", async () => {
    const w = new InlineWorker<{ id: number; doubled: number }>(SOURCE, "doubler");
    const replies = await Promise.all([1, 2, 3].map((n) => w.request({ n })));
    expect(replies.map((r) => ("doubled" in r ? r.doubled : r.failed))).toEqual([2, 4, 6]);
  });

  it("a thread that dies answers what waited with a failure naming it, and the next request gets a new thread", async () => {
    const w = new InlineWorker<{ id: number; doubled: number }>(SOURCE, "doubler");
    expect(await w.request({ exit: true })).toMatchObject({ failed: "doubler thread exited" });
    expect(await w.request({ n: 21 })).toMatchObject({ doubled: 42 });
  });
});
