import { execFileSync } from "node:child_process";
import { readTokenFile } from "../../src/config/settings.js";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { HttpBundleSource, type HttpBundleSourceOptions } from "../../src/bundle/http-source.js";
import { loadBundle } from "../../src/bundle/load.js";
import { loadPersistedBundle } from "../../src/bundle/persist.js";
import type { FetchedBundle } from "../../src/bundle/source-types.js";
import type { BundleVerificationConfig } from "../../src/bundle/verify.js";
import { TollgateError } from "../../src/errors.js";
import { createHostBuiltins } from "../../src/policy/wasm/builtins/index.js";
import { WasmPolicyEngine } from "../../src/policy/wasm/wasm-engine.js";
import { BundleServer } from "./support/bundle-server.js";
import { opaBuild, POLICY, rsaKeys, tempDir, testLogger, waitFor, writeTree, type KeyPair } from "./support/opa.js";

const DECISION = "envoy/authz/allow";

let r1: Buffer;
let r2: Buffer;
let signedR3: Buffer;
let key: KeyPair;

beforeAll(() => {
  key = rsaKeys(tempDir("tg-keys-"));
  r1 = opaBuild(writeTree(POLICY), { revision: "r1" });
  r2 = opaBuild(writeTree({ ...POLICY, "users/data.json": '{"admin":"bob"}' }), { revision: "r2" });
  signedR3 = opaBuild(writeTree({ ...POLICY, "users/data.json": '{"admin":"carol"}' }), { revision: "r3", signingKey: key.privateFile, keyId: "ci" });
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A stand-in for the activation pipeline: verify + load + swap, recording what it got. */
function pipeline(verification?: BundleVerificationConfig) {
  const got: FetchedBundle[] = [];
  let engine: WasmPolicyEngine | undefined;
  return {
    got,
    allows: (user: string) => engine?.evaluate({ user }),
    revision: () => engine?.revision,
    onBundle: async (b: FetchedBundle) => {
      got.push(b);
      const loaded = loadBundle(b.archive, { decisionPath: DECISION, ...(verification ? { verification } : {}) });
      engine = new WasmPolicyEngine(loaded.built, createHostBuiltins());
    },
  };
}

async function server(options: Parameters<typeof BundleServer.start>[0] = {}): Promise<BundleServer> {
  const s = await BundleServer.start(options);
  cleanups.push(() => s.close());
  return s;
}

function source(opts: Partial<HttpBundleSourceOptions> & Pick<HttpBundleSourceOptions, "url" | "onBundle">) {
  const { logger, sink } = testLogger();
  const s = new HttpBundleSource({ logger, minDelayMs: 20, maxDelayMs: 60, requestTimeoutMs: 2000, ...opts });
  cleanups.push(() => s.stop());
  return { source: s, logs: sink };
}

describe("HTTP bundle source: OPA's bundle service protocol", () => {
  it("304 handling: later requests send If-None-Match with the ETag, and an unchanged bundle is never handed over again", async () => {
    const srv = await server();
    srv.publish(r1, '"r1"');
    const p = pipeline();
    const { source: s } = source({ url: srv.url, onBundle: p.onBundle });
    expect(await s.start()).toEqual({ origin: "server", revision: "r1", error: undefined });
    await waitFor(() => srv.requests.length >= 5, 5000, "five requests");
    expect(srv.requests[0]?.headers["if-none-match"]).toBeUndefined();
    expect(srv.requests[0]?.status).toBe(200);
    for (const r of srv.requests.slice(1, 5)) {
      expect(r.headers["if-none-match"]).toBe('"r1"');
      expect(r.headers.prefer).toBe("modes=snapshot");
      expect(r.status).toBe(304);
    }
    expect(p.got.map((b) => [b.revision, b.etag, b.origin])).toEqual([["r1", '"r1"', "server"]]);
    expect(p.allows("alice")).toEqual([{ result: true }]);

    srv.publish(r2, '"r2"');
    await waitFor(() => p.got.length === 2, 5000, "r2");
    expect(p.revision()).toBe("r2");
    expect(p.allows("bob")).toEqual([{ result: true }]);
    const n = srv.requests.length;
    await waitFor(() => srv.requests.length >= n + 2, 5000, "two more requests");
    expect(srv.requests.at(-1)?.headers["if-none-match"]).toBe('"r2"');
    expect(s.status()).toMatchObject({ origin: "server", revision: "r2", consecutiveFailures: 0, lastError: undefined });
  });

  it("long polling: the server holds each request until a new bundle arrives or the wait runs out", async () => {
    const srv = await server({ longPolling: true });
    srv.publish(r1, '"r1"');
    const p = pipeline();
    // Regular polling would wait 5-10 s; only long polling can see r2 quickly. The request deadline (300 ms) gets the wait on top.
    const { source: s } = source({ url: srv.url, onBundle: p.onBundle, longPollingTimeoutSeconds: 1, minDelayMs: 5000, maxDelayMs: 10_000, requestTimeoutMs: 300 });
    await s.start();
    await waitFor(() => srv.requests.length === 2, 2000, "the held request");
    await new Promise((r) => setTimeout(r, 300));
    const published = Date.now();
    srv.publish(r2, '"r2"');
    await waitFor(() => p.got.length === 2, 2000, "r2 through the held request");
    expect(Date.now() - published).toBeLessThan(500);
    expect(srv.requests[1]).toMatchObject({ status: 200, headers: { "if-none-match": '"r1"', prefer: "modes=snapshot;wait=1" } });
    expect(srv.requests[1]?.heldMs).toBeGreaterThanOrEqual(250);
    // With nothing new, the next request is held the full second and answered 304, then a new one goes out at once.
    await waitFor(() => srv.requests.length >= 4, 3000, "a timed-out long poll");
    expect(srv.requests[2]).toMatchObject({ status: 304, headers: { "if-none-match": '"r2"', prefer: "modes=snapshot;wait=1" } });
    expect(srv.requests[2]?.heldMs).toBeGreaterThanOrEqual(950);
    expect(srv.requests[0]?.headers.prefer).toBe("modes=snapshot;wait=1");
  });

  it("a server without OPA's bundle content type gets regular polling: no wait in Prefer after its first answer", async () => {
    const srv = await server({ longPolling: false });
    srv.publish(r1, '"r1"');
    const p = pipeline();
    const { source: s } = source({ url: srv.url, onBundle: p.onBundle, longPollingTimeoutSeconds: 5 });
    await s.start();
    await waitFor(() => srv.requests.length >= 3, 3000, "polls");
    expect(srv.requests.map((r) => r.headers.prefer).slice(0, 3)).toEqual(["modes=snapshot;wait=5", "modes=snapshot", "modes=snapshot"]);
    expect(srv.requests[1]?.status).toBe(304);
  });

  it("a server that claims long polling but answers 304 at once is polled at the regular pace, not in a tight loop", async () => {
    const srv = await server({ longPolling: true, ignoreWait: true });
    srv.publish(r1, '"r1"');
    const { source: s } = source({ url: srv.url, onBundle: pipeline().onBundle, longPollingTimeoutSeconds: 5, minDelayMs: 200, maxDelayMs: 300 });
    await s.start();
    await new Promise((r) => setTimeout(r, 700));
    expect(srv.requests.length).toBeGreaterThanOrEqual(3);
    expect(srv.requests.length).toBeLessThanOrEqual(5);
    expect(srv.requests.slice(1).every((r) => r.status === 304 && r.headers.prefer === "modes=snapshot;wait=5")).toBe(true);
  });

  it("stop() aborts a held long poll at once", async () => {
    const srv = await server({ longPolling: true });
    srv.publish(r1, '"r1"');
    const { source: s } = source({ url: srv.url, onBundle: pipeline().onBundle, longPollingTimeoutSeconds: 30 });
    await s.start();
    await waitFor(() => srv.requests.length === 2, 2000, "the held request");
    const t = Date.now();
    await s.stop();
    expect(Date.now() - t).toBeLessThan(500);
  });

  it("an outage while running: failures are counted and logged, the current revision keeps serving, recovery picks up the new bundle", async () => {
    const srv = await server();
    srv.publish(r1, '"r1"');
    const p = pipeline();
    const { source: s, logs } = source({ url: srv.url, onBundle: p.onBundle, maxDelayMs: 80 });
    await s.start();
    await srv.down();
    await waitFor(() => s.status().consecutiveFailures >= 3, 5000, "failures");
    expect(s.status()).toMatchObject({ origin: "server", revision: "r1" });
    expect(s.status().lastError).toMatch(/^bundle download: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    expect(logs.events("bundle_download_failed")[0]).toMatchObject({ level: "warn", serving_revision: "r1", url: srv.url });
    expect(p.allows("alice")).toEqual([{ result: true }]);
    srv.publish(r2, '"r2"');
    await srv.up();
    await waitFor(() => p.revision() === "r2", 5000, "r2 after the outage");
    expect(s.status()).toMatchObject({ consecutiveFailures: 0, lastError: undefined, revision: "r2" });
    expect(p.got).toHaveLength(2);
  });

  it("an HTTP 500 is a failure naming the status; afterwards the ETag is dropped (as OPA does) but the same bundle is not handed over twice", async () => {
    const srv = await server();
    srv.publish(r1, '"r1"');
    const p = pipeline();
    const { source: s } = source({ url: srv.url, onBundle: p.onBundle, maxDelayMs: 80 });
    await s.start();
    srv.failStatus = 500;
    await waitFor(() => s.status().consecutiveFailures >= 2, 5000, "failures");
    expect(s.status().lastError).toBe("bundle server answered HTTP 500");
    const failedAt = srv.requests.length;
    srv.failStatus = undefined;
    await waitFor(() => s.status().consecutiveFailures === 0, 5000, "recovery");
    expect(srv.requests.slice(failedAt).find((r) => r.status === 200)?.headers["if-none-match"]).toBeUndefined();
    expect(p.got).toHaveLength(1);
    expect(s.status()).toMatchObject({ origin: "server", revision: "r1", consecutiveFailures: 0 });
  });

  it("a refused bundle leaves the current revision serving, records the reason and is not handed over again", async () => {
    const srv = await server();
    srv.publish(signedR3, '"r3"');
    const verification = { keys: { ci: { key: key.publicPem, algorithm: "RS256", scope: "" } } };
    const p = pipeline(verification);
    const { source: s, logs } = source({ url: srv.url, onBundle: p.onBundle });
    expect(await s.start()).toMatchObject({ origin: "server", revision: "r3" });
    srv.publish(r2, '"r2"');
    await waitFor(() => s.status().lastRejection !== undefined, 5000, "the rejection");
    expect(s.status()).toMatchObject({ origin: "server", revision: "r3", lastRejection: "bundle signature: bundle missing .signatures.json file" });
    expect(logs.events("bundle_rejected")[0]).toMatchObject({ level: "error", revision: "r2", serving_revision: "r3", error: "bundle signature: bundle missing .signatures.json file" });
    expect(p.revision()).toBe("r3");
    const n = srv.requests.length;
    await waitFor(() => srv.requests.length >= n + 3, 5000, "more polls");
    expect(p.got.map((b) => b.revision)).toEqual(["r3", "r2"]);
    expect(srv.requests.at(-1)).toMatchObject({ status: 304, headers: { "if-none-match": '"r2"' } });
  });

  it("bearer token auth; a token file is re-read on every request so it can rotate", async () => {
    const srv = await server({ token: "t1" });
    srv.publish(r1, '"r1"');
    const tokenFile = path.join(tempDir(), "token");
    writeFileSync(tokenFile, "t1\n");
    const p = pipeline();
    const { source: s } = source({ url: srv.url, onBundle: p.onBundle, token: () => readTokenFile(tokenFile, "bundleTokenFile"), maxDelayMs: 80 });
    await s.start();
    expect(srv.requests[0]?.headers.authorization).toBe("Bearer t1");
    srv.token = "t2";
    await waitFor(() => s.status().lastError === "bundle server answered HTTP 401", 5000, "401");
    writeFileSync(tokenFile, "t2");
    await waitFor(() => srv.requests.at(-1)?.headers.authorization === "Bearer t2" && s.status().consecutiveFailures === 0, 5000, "rotated token");
  });

  it("a wrong static token is an error naming the status, never a crash", async () => {
    const srv = await server({ token: "right" });
    srv.publish(r1, '"r1"');
    const { source: s } = source({ url: srv.url, onBundle: pipeline().onBundle, token: "wrong" });
    expect(await s.start()).toEqual({ origin: "none", revision: undefined, error: "bundle server answered HTTP 401" });
  });

  it("https with a CA option; without the CA the certificate is refused", async () => {
    const dir = tempDir("tg-tls-");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"], { stdio: "ignore" });
    const srv = await server({ tls: { key: readFileSync(path.join(dir, "key.pem"), "utf8"), cert: readFileSync(path.join(dir, "cert.pem"), "utf8") } });
    srv.publish(r1, '"r1"');
    const trusted = source({ url: srv.url, onBundle: pipeline().onBundle, caFile: path.join(dir, "cert.pem") });
    expect(await trusted.source.start()).toMatchObject({ origin: "server", revision: "r1" });
    const untrusted = source({ url: srv.url, onBundle: pipeline().onBundle });
    expect((await untrusted.source.start()).error).toMatch(/^bundle download: self[- ]signed certificate/);
  });

  it.each([
    ["with Content-Length", false, /^bundle download: body of \d+ bytes exceeds the limit of 1000 bytes$/],
    ["chunked, without Content-Length", true, /^bundle download: body exceeds the limit of 1000 bytes$/],
  ])("a bundle over the size limit (%s) is refused before it is read", async (_name, chunked, message) => {
    const srv = await server({ chunked });
    srv.publish(r1, '"r1"');
    const { source: s } = source({ url: srv.url, onBundle: pipeline().onBundle, limits: { maxArchiveBytes: 1000 } });
    expect((await s.start()).error).toMatch(message);
  });

  it("every request has a deadline: a server that never answers times out", async () => {
    const srv = await server();
    srv.hang = true;
    const { source: s } = source({ url: srv.url, onBundle: pipeline().onBundle, requestTimeoutMs: 200 });
    const t = Date.now();
    expect(await s.start()).toEqual({ origin: "none", revision: undefined, error: "bundle download: timed out after 200 ms" });
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it("a corrupt archive from the server is a download failure, not a crash", async () => {
    const srv = await server();
    srv.publish(Buffer.from("not a bundle"), '"x"');
    const { source: s } = source({ url: srv.url, onBundle: pipeline().onBundle });
    expect((await s.start()).error).toMatch(/^bundle archive: not a gzip stream/);
  });

  it("redirects are followed", async () => {
    const srv = await server();
    srv.publish(r1, '"r1"');
    const { source: s } = source({ url: srv.url.replace("/bundles/app.tar.gz", "/old"), onBundle: pipeline().onBundle });
    expect(await s.start()).toMatchObject({ origin: "server", revision: "r1" });
  });

  it.each([
    [{ url: "not a url" }, /bundle URL "not a url" is not a URL/],
    [{ minDelayMs: 500, maxDelayMs: 100 }, /max delay must be >= min delay >= 0/],
    [{ minDelayMs: -1, maxDelayMs: 100 }, /max delay must be >= min delay >= 0/],
    [{ maxDelayMs: 100 }, /set both the min and the max delay, or neither/],
    [{ longPollingTimeoutSeconds: 0 }, /long polling timeout must be a whole number of seconds >= 1/],
    [{ caFile: "/nonexistent/ca.pem" }, /bundle CA file \/nonexistent\/ca\.pem: ENOENT/],
  ])("bad configuration %j – config_error", (opts, message) => {
    const { logger } = testLogger();
    let caught: unknown;
    try {
      new HttpBundleSource({ url: "http://127.0.0.1:1/b", onBundle: async () => undefined, logger, ...opts });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).code).toBe("config_error");
    expect((caught as TollgateError).message).toMatch(message);
  });
});

describe("HTTP bundle source: persistence across restarts", () => {
  it("a restart while the server is down serves the persisted revision and says so; recovery confirms it, then new bundles flow", async () => {
    const stateDir = tempDir("tg-state-");
    const srv = await server();
    srv.publish(r1, '"r1"');
    const first = source({ url: srv.url, onBundle: pipeline().onBundle, stateDir });
    await first.source.start();
    await waitFor(() => srv.requests.length >= 2, 3000, "a poll after the first download");
    expect((await loadPersistedBundle({ stateDir }))?.meta).toMatchObject({ revision: "r1", etag: '"r1"', location: srv.url });
    await first.source.stop();
    await srv.down();

    // "Restart": a fresh source and a fresh engine, same state dir, server unreachable.
    const p = pipeline();
    const restarted = source({ url: srv.url, onBundle: p.onBundle, stateDir, maxDelayMs: 80 });
    const started = await restarted.source.start();
    expect(started.origin).toBe("persisted");
    expect(started.revision).toBe("r1");
    expect(started.error).toMatch(/ECONNREFUSED/);
    expect(p.got).toHaveLength(1);
    expect(p.got[0]).toMatchObject({ origin: "persisted", revision: "r1", etag: '"r1"', location: srv.url });
    expect(Date.parse(p.got[0]?.savedAt ?? "")).toBeGreaterThan(Date.now() - 60_000);
    expect(p.allows("alice")).toEqual([{ result: true }]);
    expect(restarted.logs.events("bundle_served_from_disk")[0]).toMatchObject({ level: "warn", revision: "r1", url: srv.url, reason: expect.stringMatching(/ECONNREFUSED/) as unknown });
    expect(restarted.source.status()).toMatchObject({ origin: "persisted", revision: "r1" });

    await srv.up();
    await waitFor(() => restarted.source.status().origin === "server", 5000, "server confirmation");
    expect(p.got).toHaveLength(1);
    expect(restarted.logs.events("bundle_server_confirmed")[0]).toMatchObject({ revision: "r1" });

    srv.publish(r2, '"r2"');
    await waitFor(() => p.revision() === "r2", 5000, "r2");
    expect(p.got.at(-1)?.origin).toBe("server");
    let persisted: string | undefined;
    for (let i = 0; i < 100 && persisted !== "r2"; i++) {
      persisted = (await loadPersistedBundle({ stateDir }))?.meta.revision;
      if (persisted !== "r2") await new Promise((r) => setTimeout(r, 20));
    }
    expect(persisted).toBe("r2");
  });

  it("at start the server is down and nothing was persisted: origin none with the reason; the bundle arrives once the server is up", async () => {
    const srv = await server();
    srv.publish(r1, '"r1"');
    await srv.down();
    const p = pipeline();
    const { source: s } = source({ url: srv.url, onBundle: p.onBundle, stateDir: tempDir("tg-state-"), maxDelayMs: 80 });
    const started = await s.start();
    expect(started).toMatchObject({ origin: "none", revision: undefined });
    expect(started.error).toMatch(/ECONNREFUSED/);
    await srv.up();
    await waitFor(() => p.revision() === "r1", 5000, "r1");
    expect(s.status().origin).toBe("server");
  });

  it("a server bundle refused at start falls back to the persisted one", async () => {
    const stateDir = tempDir("tg-state-");
    const verification = { keys: { ci: { key: key.publicPem, algorithm: "RS256", scope: "" } } };
    const srv = await server();
    srv.publish(signedR3, '"r3"');
    const first = source({ url: srv.url, onBundle: pipeline(verification).onBundle, stateDir });
    await first.source.start();
    await first.source.stop();
    srv.publish(r2, '"r2"'); // unsigned: the pipeline refuses it
    const p = pipeline(verification);
    const restarted = source({ url: srv.url, onBundle: p.onBundle, stateDir });
    expect(await restarted.source.start()).toEqual({ origin: "persisted", revision: "r3", error: "bundle signature: bundle missing .signatures.json file" });
    expect(p.revision()).toBe("r3");
  });

  it("a damaged persisted bundle is reported and not used", async () => {
    const stateDir = tempDir("tg-state-");
    const srv = await server();
    srv.publish(r1, '"r1"');
    const first = source({ url: srv.url, onBundle: pipeline().onBundle, stateDir });
    await first.source.start();
    await first.source.stop();
    const meta = (await loadPersistedBundle({ stateDir }))?.meta;
    writeFileSync(path.join(stateDir, "bundles", "active", meta?.file ?? ""), "garbage");
    await srv.down();
    const restarted = source({ url: srv.url, onBundle: pipeline().onBundle, stateDir });
    expect((await restarted.source.start()).origin).toBe("none");
    expect(restarted.logs.events("bundle_persisted_unusable")[0]?.["error"]).toMatch(/does not match its recorded digest/);
  });
});
