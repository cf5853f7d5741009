import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RateLimitConfigWatcher, type ReloadEvent } from "../../src/ratelimit/config/watch.js";
import { captureLogger } from "./helpers.js";

const root = mkdtempSync(path.join(tmpdir(), "tollgate-rl-watch-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const watchers: RateLimitConfigWatcher[] = [];
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
});

const limitYaml = (domain: string, rpu: number): string =>
  `domain: ${domain}\ndescriptors:\n  - key: user\n    rate_limit:\n      unit: minute\n      requests_per_unit: ${rpu}\n`;

function rpuOf(watcher: RateLimitConfigWatcher, domain: string): number | undefined {
  return watcher.current().domains.get(domain)?.root.children.get("user")?.limit?.requestsPerUnit;
}

function nextReload(watcher: RateLimitConfigWatcher, timeoutMs = 5000): Promise<ReloadEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error("no reload within timeout"));
    }, timeoutMs);
    const off = watcher.onReload((event) => {
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

async function start(dir: string, debounceMs = 50) {
  const { logger, lines } = captureLogger();
  const watcher = await RateLimitConfigWatcher.start({ dir, logger, debounceMs });
  watchers.push(watcher);
  return { watcher, lines };
}

describe("RateLimitConfigWatcher", () => {
  it("loads the directory at start and picks up an edited file", async () => {
    const dir = mkdtempSync(path.join(root, "edit-"));
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 5));
    const { watcher, lines } = await start(dir);
    expect(rpuOf(watcher, "a")).toBe(5);
    expect(lines.find((l) => l["event"] === "ratelimit_config_loaded")).toMatchObject({ files: 1, domains: ["a"] });

    const reloaded = nextReload(watcher);
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 7));
    const event = await reloaded;
    expect(event.ok).toBe(true);
    expect(rpuOf(watcher, "a")).toBe(7);
    expect(watcher.stats).toEqual({ reloads: 1, reloadErrors: 0 });
  });

  it("a bad file keeps the last good config, is logged with its error, and a fix recovers", async () => {
    const dir = mkdtempSync(path.join(root, "bad-"));
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 5));
    const { watcher, lines } = await start(dir);

    const failed = nextReload(watcher);
    writeFileSync(path.join(dir, "b.yaml"), "domain: b\ndescriptors:\n  - key: user\n    rate_limit: {unit: fortnight, requests_per_unit: 1}\n");
    const event = await failed;
    expect(event).toMatchObject({ ok: false, error: { code: "config_error", message: "b.yaml: invalid rate limit unit 'fortnight' at descriptors[0].rate_limit (line 4)" } });
    expect(rpuOf(watcher, "a")).toBe(5);
    expect(watcher.current().domains.has("b")).toBe(false);
    expect(lines.find((l) => l["event"] === "ratelimit_config_reload_failed")).toMatchObject({
      level: 50,
      reason: "config_error",
      err: "b.yaml: invalid rate limit unit 'fortnight' at descriptors[0].rate_limit (line 4)",
    });

    const fixed = nextReload(watcher);
    writeFileSync(path.join(dir, "b.yaml"), limitYaml("b", 9));
    expect((await fixed).ok).toBe(true);
    expect(rpuOf(watcher, "b")).toBe(9);
    expect(watcher.stats).toEqual({ reloads: 1, reloadErrors: 1 });
  });

  it("removing a file removes its domain", async () => {
    const dir = mkdtempSync(path.join(root, "rm-"));
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 1));
    writeFileSync(path.join(dir, "b.yaml"), limitYaml("b", 2));
    const { watcher } = await start(dir);
    const reloaded = nextReload(watcher);
    unlinkSync(path.join(dir, "b.yaml"));
    await reloaded;
    expect([...watcher.current().domains.keys()]).toEqual(["a"]);
  });

  it("a burst of writes is debounced into one reload", async () => {
    const dir = mkdtempSync(path.join(root, "burst-"));
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 1));
    const { watcher } = await start(dir, 300);
    const events: ReloadEvent[] = [];
    watcher.onReload((e) => events.push(e));
    const reloaded = nextReload(watcher);
    for (let i = 2; i <= 6; i++) writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", i));
    await reloaded;
    await new Promise((r) => setTimeout(r, 400));
    expect(events).toHaveLength(1);
    expect(rpuOf(watcher, "a")).toBe(6);
  });

  it("follows a Kubernetes ConfigMap-style swap of the ..data symlink", async () => {
    const dir = mkdtempSync(path.join(root, "k8s-"));
    mkdirSync(path.join(dir, "..v1"));
    writeFileSync(path.join(dir, "..v1", "a.yaml"), limitYaml("a", 1));
    symlinkSync("..v1", path.join(dir, "..data"));
    symlinkSync(path.join("..data", "a.yaml"), path.join(dir, "a.yaml"));
    const { watcher } = await start(dir);
    expect(rpuOf(watcher, "a")).toBe(1);

    const reloaded = nextReload(watcher);
    mkdirSync(path.join(dir, "..v2"));
    writeFileSync(path.join(dir, "..v2", "a.yaml"), limitYaml("a", 2));
    symlinkSync("..v2", path.join(dir, "..data_tmp"));
    renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
    rmSync(path.join(dir, "..v1"), { recursive: true });
    await reloaded;
    // Several events may arrive; wait for the last reload to settle.
    await new Promise((r) => setTimeout(r, 200));
    expect(rpuOf(watcher, "a")).toBe(2);
  });

  it("reload() reloads on demand; a throwing listener does not stop others", async () => {
    const dir = mkdtempSync(path.join(root, "manual-"));
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 1));
    const { watcher, lines } = await start(dir, 10_000);
    const seen: boolean[] = [];
    watcher.onReload(() => {
      throw new Error("listener bug");
    });
    watcher.onReload((e) => seen.push(e.ok));
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 3));
    expect((await watcher.reload()).ok).toBe(true);
    expect(rpuOf(watcher, "a")).toBe(3);
    expect(seen).toEqual([true]);
    expect(lines.find((l) => l["event"] === "ratelimit_reload_listener_failed")).toMatchObject({ err: "listener bug" });
  });

  it("start() fails when the first load fails", async () => {
    const dir = mkdtempSync(path.join(root, "initial-"));
    writeFileSync(path.join(dir, "a.yaml"), "domain: a\nunknown: 1\n");
    const { logger } = captureLogger();
    await expect(RateLimitConfigWatcher.start({ dir, logger })).rejects.toMatchObject({
      code: "config_error",
      message: "a.yaml: config error, unknown key 'unknown' at unknown (line 2)",
    });
  });

  it("after close() file changes are ignored", async () => {
    const dir = mkdtempSync(path.join(root, "close-"));
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 1));
    const { watcher } = await start(dir);
    const events: ReloadEvent[] = [];
    watcher.onReload((e) => events.push(e));
    await watcher.close();
    writeFileSync(path.join(dir, "a.yaml"), limitYaml("a", 2));
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toEqual([]);
    expect(rpuOf(watcher, "a")).toBe(1);
  });
});
