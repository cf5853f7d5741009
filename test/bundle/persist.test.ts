import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadPersistedBundle, persistBundle } from "../../src/bundle/persist.js";
import { TollgateError } from "../../src/errors.js";
import { tempDir } from "./support/opa.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function rejection(p: Promise<unknown>): Promise<TollgateError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError);
    return err as TollgateError;
  }
  throw new Error("expected a rejection");
}

describe("persisting the last activated bundle", () => {
  it("round-trips bytes and metadata; the folder holds current.json and one archive, owner-only", async () => {
    const stateDir = tempDir("tg-state-");
    const bytes = Buffer.from("bundle one");
    const meta = await persistBundle({ stateDir, bytes, revision: "r1", etag: '"e1"', location: "http://127.0.0.1/b.tar.gz", keyId: "k1" });
    expect(meta).toMatchObject({ version: 1, digest: sha(bytes), size: 10, revision: "r1", etag: '"e1"', location: "http://127.0.0.1/b.tar.gz", keyId: "k1", file: `bundle-${sha(bytes)}.tar.gz` });
    expect(Date.parse(meta.savedAt)).toBeGreaterThan(Date.now() - 60_000);
    const folder = path.join(stateDir, "bundles", "active");
    expect(readdirSync(folder).sort()).toEqual([meta.file, "current.json"].sort());
    expect(statSync(path.join(folder, meta.file)).mode & 0o777).toBe(0o600);
    const loaded = await loadPersistedBundle({ stateDir });
    expect(loaded?.bytes.toString()).toBe("bundle one");
    expect(loaded?.meta).toEqual(meta);
  });

  it("a newer save replaces the older one and removes its archive", async () => {
    const stateDir = tempDir("tg-state-");
    await persistBundle({ stateDir, bytes: Buffer.from("one"), revision: "r1", location: "x" });
    const second = await persistBundle({ stateDir, bytes: Buffer.from("two"), revision: "r2", location: "x" });
    expect(readdirSync(path.join(stateDir, "bundles", "active")).sort()).toEqual([second.file, "current.json"].sort());
    expect((await loadPersistedBundle({ stateDir }))?.meta.revision).toBe("r2");
  });

  it("concurrent saves run one after another; the last one wins", async () => {
    const stateDir = tempDir("tg-state-");
    await Promise.all(["a", "b", "c", "d"].map((r) => persistBundle({ stateDir, bytes: Buffer.from(r), revision: r, location: "x" })));
    const loaded = await loadPersistedBundle({ stateDir });
    expect(loaded?.meta.revision).toBe("d");
    expect(readdirSync(path.join(stateDir, "bundles", "active"))).toHaveLength(2);
  });

  it("separate names keep separate bundles (e.g. active and candidate)", async () => {
    const stateDir = tempDir("tg-state-");
    await persistBundle({ stateDir, name: "active", bytes: Buffer.from("a"), revision: "ra", location: "x" });
    await persistBundle({ stateDir, name: "candidate", bytes: Buffer.from("c"), revision: "rc", location: "x" });
    expect((await loadPersistedBundle({ stateDir, name: "active" }))?.meta.revision).toBe("ra");
    expect((await loadPersistedBundle({ stateDir, name: "candidate" }))?.meta.revision).toBe("rc");
  });

  it("nothing saved yet → undefined", async () => {
    expect(await loadPersistedBundle({ stateDir: tempDir("tg-state-") })).toBeUndefined();
  });

  it.each([
    ["the archive no longer matches its digest", (folder: string, file: string) => writeFileSync(path.join(folder, file), "changed"), /does not match its recorded digest/],
    ["current.json is not valid", (folder: string) => writeFileSync(path.join(folder, "current.json"), "{"), /damaged current\.json/],
    ["current.json names a foreign file", (folder: string) => writeFileSync(path.join(folder, "current.json"), JSON.stringify({ ...JSON.parse(readFileSync(path.join(folder, "current.json"), "utf8")), file: "../../etc/passwd" })), /damaged current\.json/],
    ["the archive is gone", (folder: string, file: string) => writeFileSync(path.join(folder, "current.json"), JSON.stringify({ ...JSON.parse(readFileSync(path.join(folder, "current.json"), "utf8")), file: file.replace(/^bundle-./, "bundle-0") })), /ENOENT/],
  ])("%s → a clear error, not a wrong bundle", async (_name, damage, message) => {
    const stateDir = tempDir("tg-state-");
    const meta = await persistBundle({ stateDir, bytes: Buffer.from("good"), revision: "r1", location: "x" });
    damage(path.join(stateDir, "bundles", "active"), meta.file);
    expect((await rejection(loadPersistedBundle({ stateDir }))).message).toMatch(message);
  });

  it.each([["../escape"], [".."], ["a/b"], [""]])("state name %j is refused as a config error", async (name) => {
    const e = await rejection(loadPersistedBundle({ stateDir: tempDir(), name }));
    expect(e.code).toBe("config_error");
  });

  it("an unwritable state dir gives an error naming the folder", async () => {
    const file = path.join(tempDir(), "not-a-dir");
    writeFileSync(file, "x");
    const e = await rejection(persistBundle({ stateDir: file, bytes: Buffer.from("x"), revision: "r", location: "x" }));
    expect(e.message).toMatch(/^cannot persist bundle under .*not-a-dir\/bundles\/active: /);
  });
});
