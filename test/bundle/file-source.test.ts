import { renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { FileBundleSource } from "../../src/bundle/file-source.js";
import { loadBundle } from "../../src/bundle/load.js";
import type { FetchedBundle } from "../../src/bundle/source-types.js";
import { TollgateError } from "../../src/errors.js";
import { opaBuild, POLICY, tempDir, testLogger, waitFor, writeTree } from "./support/opa.js";

let r1: Buffer;
let r2: Buffer;
let r3: Buffer;

beforeAll(() => {
  r1 = opaBuild(writeTree(POLICY), { revision: "r1" });
  r2 = opaBuild(writeTree({ ...POLICY, "users/data.json": '{"admin":"bob"}' }), { revision: "r2" });
  r3 = opaBuild(writeTree({ ...POLICY, "users/data.json": '{"admin":"carol"}' }), { revision: "r3" });
});

const open: FileBundleSource[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function setup(initial: Buffer | undefined) {
  const file = path.join(tempDir("tg-file-"), "bundle.tar.gz");
  if (initial) writeFileSync(file, initial);
  const got: FetchedBundle[] = [];
  const { logger, sink } = testLogger();
  const source = new FileBundleSource({
    file,
    logger,
    debounceMs: 20,
    onBundle: async (b) => {
      loadBundle(b.archive, { decisionPath: "envoy/authz/allow" });
      got.push(b);
    },
  });
  open.push(source);
  return { file, got, source, logs: sink };
}

describe("bundle file source", () => {
  it("load() hands the file over with its revision; loading the same file again is a no-op", async () => {
    const { file, got, source } = setup(r1);
    const first = await source.load();
    expect(first).toMatchObject({ origin: "file", revision: "r1", location: file, etag: "" });
    expect(await source.load()).toBeUndefined();
    expect(got).toHaveLength(1);
    expect(source.status()).toMatchObject({ origin: "file", revision: "r1", consecutiveFailures: 0, lastError: undefined });
  });

  it("reloads when the file is rewritten in place and when it is replaced by rename", async () => {
    const { file, got, source } = setup(r1);
    await source.load();
    await source.watch();
    writeFileSync(file, r2);
    await waitFor(() => got.length === 2, 5000, "in-place rewrite");
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, r3);
    renameSync(tmp, file);
    await waitFor(() => got.length === 3, 5000, "rename");
    await source.settled();
    expect(got.map((b) => b.revision)).toEqual(["r1", "r2", "r3"]);
    expect(source.status().revision).toBe("r3");
  });

  it("a bad file is logged and the current revision keeps serving; the next good file is taken", async () => {
    const { file, got, source, logs } = setup(r1);
    await source.load();
    await source.watch();
    writeFileSync(file, "garbage");
    await waitFor(() => logs.events("bundle_rejected").length === 1, 5000, "rejection");
    expect(logs.events("bundle_rejected")[0]).toMatchObject({ level: "error", serving_revision: "r1", file });
    expect(String(logs.events("bundle_rejected")[0]?.["error"])).toMatch(/^bundle archive: not a gzip stream/);
    expect(source.status()).toMatchObject({ revision: "r1", consecutiveFailures: 1 });
    writeFileSync(file, r2);
    await waitFor(() => got.length === 2, 5000, "recovery");
    expect(source.status()).toMatchObject({ revision: "r2", consecutiveFailures: 0 });
  });

  it("a bundle the handler refuses is recorded as the last rejection and not activated", async () => {
    const { source, got } = setup(opaBuild(writeTree(POLICY), { entrypoints: ["envoy/authz"] }));
    await expect(source.load()).rejects.toThrow(/no wasm entrypoint envoy\/authz\/allow/);
    expect(got).toHaveLength(0);
    expect(source.status()).toMatchObject({ origin: "none", lastRejection: expect.stringMatching(/no wasm entrypoint/) as unknown });
  });

  it.each([
    ["a missing file", undefined, {}, /ENOENT/],
    ["a file over the archive limit", Buffer.alloc(2000), { maxArchiveBytes: 1000 }, /size 2000 bytes exceeds the limit of 1000 bytes/],
  ])("%s – load() rejects with a TollgateError", async (_name, content, limits, message) => {
    const { file } = setup(content);
    const { logger } = testLogger();
    const source = new FileBundleSource({ file, logger, limits, onBundle: async () => undefined });
    let caught: unknown;
    try {
      await source.load();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).message).toMatch(message);
    expect(source.status()).toMatchObject({ origin: "none", consecutiveFailures: 1 });
  });
});
