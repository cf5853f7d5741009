import { X509Certificate as X509 } from "node:crypto";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { connect } from "node:tls";
import { credentials, makeGenericClientConstructor, Server, type ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation, service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.js";
import { createGrpcTls, TlsFileWatcher, type GrpcTls } from "../../src/tls/certificates.js";
import { LogCapture } from "../support/app.js";
import { CertFactory, type KeyPair } from "./certs.js";

const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");

interface ClientIdentity {
  trust: string;
  pair?: KeyPair;
}

/** One Health/Check call over a fresh connection (no shared subchannel), resolving to the status or the gRPC error code. */
function healthCall(port: number, id: ClientIdentity, f: CertFactory): Promise<string | number> {
  const creds = credentials.createSsl(f.read(id.trust), id.pair ? f.read(id.pair.key) : null, id.pair ? f.read(id.pair.cert) : null);
  const client = new HealthClient(`127.0.0.1:${port}`, creds, { "grpc.use_local_subchannel_pool": 1 });
  return new Promise((resolve) => {
    client["check"]!({ service: "" }, { deadline: Date.now() + 5000 }, (err: { code: number } | null, res?: { status: string }) => {
      client.close();
      resolve(err ? err.code : res!.status);
    });
  });
}

/** The SHA-256 fingerprint of the certificate the server presents to a new TLS connection. */
function servedFingerprint(port: number, id: ClientIdentity, f: CertFactory): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: f.read(id.trust), ...(id.pair ? { cert: f.read(id.pair.cert), key: f.read(id.pair.key) } : {}), ALPNProtocols: ["h2"] }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fp);
    });
    socket.once("error", reject);
  });
}

function fingerprintOf(f: CertFactory, file: string): string {
  return new X509(f.read(file)).fingerprint256;
}

async function startServer(creds: ServerCredentials): Promise<{ server: Server; port: number }> {
  const server = new Server();
  new HealthImplementation({ "": "SERVING" }).addToServer(server);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

const UNAVAILABLE = 14;

describe("mTLS on the gRPC port (certificates made with the openssl CLI)", () => {
  const f = new CertFactory();
  let caA: KeyPair, caB: KeyPair, serverA1: KeyPair, serverA2: KeyPair, serverB: KeyPair, clientA: KeyPair, clientB: KeyPair;
  const live = { cert: path.join(f.dir, "live-tls.crt"), key: path.join(f.dir, "live-tls.key"), ca: path.join(f.dir, "live-ca.crt") };
  let tls: GrpcTls;
  let server: Server;
  let port: number;
  const logs = new LogCapture();

  const install = (pair: KeyPair, clientCa: KeyPair) => {
    copyFileSync(pair.cert, live.cert);
    copyFileSync(pair.key, live.key);
    copyFileSync(clientCa.cert, live.ca);
  };

  beforeAll(async () => {
    caA = f.ca("Tollgate Test CA A");
    caB = f.ca("Tollgate Test CA B");
    serverA1 = f.leaf(caA, "tollgate-a1", "server");
    serverA2 = f.leaf(caA, "tollgate-a2", "server");
    serverB = f.leaf(caB, "tollgate-b", "server");
    clientA = f.leaf(caA, "envoy-a", "client");
    clientB = f.leaf(caB, "envoy-b", "client");
    install(serverA1, caA);
    // A long poll interval: the tests below call poll() so each rotation step is deterministic.
    tls = await createGrpcTls({ files: { certFile: live.cert, keyFile: live.key, caFile: live.ca }, logger: createLogger({ destination: logs }), pollMs: 60_000 });
    ({ server, port } = await startServer(tls.credentials));
  });

  afterAll(async () => {
    server.forceShutdown();
    await tls.close();
    rmSync(f.dir, { recursive: true, force: true });
  });

  it("a client with a certificate from the configured CA passes", async () => {
    expect(await healthCall(port, { trust: caA.cert, pair: clientA }, f)).toBe("SERVING");
  });

  it.each([
    ["no client certificate", () => ({ trust: caA.cert })],
    ["a client certificate from another CA", () => ({ trust: caA.cert, pair: clientB })],
    ["a server CA the client does not trust", () => ({ trust: caB.cert, pair: clientA })],
  ])("%s – refused with UNAVAILABLE, no call reaches the service", async (_title, id) => {
    expect(await healthCall(port, id(), f)).toBe(UNAVAILABLE);
  });

  it("info() names the serving certificate and says a client certificate is required, with no key material", () => {
    const info = tls.watcher.info();
    expect(info).toMatchObject({ subject: "CN=tollgate-a1", issuer: "CN=Tollgate Test CA A", clientCertRequired: true, reloads: 0, fingerprint256: fingerprintOf(f, serverA1.cert) });
    expect(JSON.stringify(info)).not.toMatch(/PRIVATE KEY|BEGIN/);
  });

  it("rotating the server certificate and key takes effect on the next connection, on the same port, without a restart", async () => {
    expect(await servedFingerprint(port, { trust: caA.cert, pair: clientA }, f)).toBe(fingerprintOf(f, serverA1.cert));
    install(serverA2, caA);
    await tls.watcher.poll();
    expect(await servedFingerprint(port, { trust: caA.cert, pair: clientA }, f)).toBe(fingerprintOf(f, serverA2.cert));
    expect(await healthCall(port, { trust: caA.cert, pair: clientA }, f)).toBe("SERVING");
    expect(tls.watcher.info()).toMatchObject({ subject: "CN=tollgate-a2", reloads: 1 });
    expect(logs.events("tls_reloaded")).toHaveLength(1);
  });

  it("a half-written rotation (new certificate, old key) is rejected once and the previous certificate keeps serving", async () => {
    copyFileSync(serverB.cert, live.cert);
    await tls.watcher.poll();
    await tls.watcher.poll();
    expect(await servedFingerprint(port, { trust: caA.cert, pair: clientA }, f)).toBe(fingerprintOf(f, serverA2.cert));
    expect(await healthCall(port, { trust: caA.cert, pair: clientA }, f)).toBe("SERVING");
    const rejected = logs.events("tls_reload_rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ stage: "validate", level: "warn" });
    expect(tls.watcher.info().lastError).toMatch(/key values mismatch|private key/i);
  });

  it("rotating to a new CA: the old CA's clients are refused and the new CA's clients pass, still without a restart", async () => {
    install(serverB, caB);
    await tls.watcher.poll();
    expect(tls.watcher.info()).toMatchObject({ subject: "CN=tollgate-b", reloads: 2 });
    expect(tls.watcher.info().lastError).toBeUndefined();
    expect(await healthCall(port, { trust: caB.cert, pair: clientB }, f)).toBe("SERVING");
    expect(await healthCall(port, { trust: caB.cert, pair: clientA }, f)).toBe(UNAVAILABLE);
    expect(await healthCall(port, { trust: caA.cert, pair: clientA }, f)).toBe(UNAVAILABLE);
  });
});

describe("TLS file watcher", () => {
  const f = new CertFactory();
  afterAll(() => rmSync(f.dir, { recursive: true, force: true }));

  it("picks up a rotation on its own timer", async () => {
    const ca = f.ca("Timer CA");
    const one = f.leaf(ca, "timer-1", "server");
    const two = f.leaf(ca, "timer-2", "server");
    const cert = path.join(f.dir, "timer.crt");
    const key = path.join(f.dir, "timer.key");
    copyFileSync(one.cert, cert);
    copyFileSync(one.key, key);
    const watcher = await TlsFileWatcher.start({ files: { certFile: cert, keyFile: key }, logger: createLogger({ level: "silent" }), pollMs: 25 });
    const seen: string[] = [];
    watcher.onUpdate((m) => seen.push(new X509(m.cert).subject));
    copyFileSync(two.key, key);
    copyFileSync(two.cert, cert);
    const until = Date.now() + 5000;
    while (seen.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await watcher.close();
    expect(seen).toEqual(["CN=timer-2"]);
    expect(watcher.info().clientCertRequired).toBe(false);
  });

  it.each([
    ["a missing key file", (d: string) => ({ certFile: path.join(d, "ok.crt"), keyFile: path.join(d, "missing.key") }), /TLS files .*missing\.key.*ENOENT/],
    ["a key that does not match the certificate", (d: string) => ({ certFile: path.join(d, "ok.crt"), keyFile: path.join(d, "other.key") }), /TLS files .*(key values mismatch|private key)/i],
    ["a CA file that is not PEM", (d: string) => ({ certFile: path.join(d, "ok.crt"), keyFile: path.join(d, "ok.key"), caFile: path.join(d, "junk.pem") }), /TLS files .*(PEM|certificate)/i],
  ])("refuses to start with %s, as a config_error naming the files", async (_t, files, message) => {
    const ca = f.ca("Start CA");
    const ok = f.leaf(ca, "ok", "server");
    const other = f.leaf(ca, "other", "server");
    copyFileSync(ok.cert, path.join(f.dir, "ok.crt"));
    copyFileSync(ok.key, path.join(f.dir, "ok.key"));
    copyFileSync(other.key, path.join(f.dir, "other.key"));
    writeFileSync(path.join(f.dir, "junk.pem"), "not a certificate\n");
    await expect(TlsFileWatcher.start({ files: files(f.dir), logger: createLogger({ level: "silent" }) })).rejects.toMatchObject({ code: "config_error", message: expect.stringMatching(message) });
  });

  it("without a CA file the port is one-way TLS: a client without a certificate passes", async () => {
    const ca = f.ca("One-way CA");
    const srv = f.leaf(ca, "one-way", "server");
    const tls = await createGrpcTls({ files: { certFile: srv.cert, keyFile: srv.key }, logger: createLogger({ level: "silent" }) });
    const { server, port } = await startServer(tls.credentials);
    try {
      expect(await healthCall(port, { trust: ca.cert }, f)).toBe("SERVING");
    } finally {
      server.forceShutdown();
      await tls.close();
    }
  });
});
