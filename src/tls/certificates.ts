import { createHash, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { experimental, type ServerCredentials } from "@grpc/grpc-js";
import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that client certificates must chain to. Without it the server does one-way TLS. */
  caFile?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** What the admin status and the compliance report may show: no key material, only identifiers. */
export interface TlsInfo {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
  clientCertRequired: boolean;
  loadedAt: string;
  reloads: number;
  /** The last rejected reload, while the files still hold that rejected content. */
  lastError?: string;
}

export interface TlsWatcherOptions {
  files: TlsFiles;
  logger: Logger;
  /** How often the files are re-read. Polling (not inotify) also catches Kubernetes' symlink swaps. Default 2000. */
  pollMs?: number;
}

type Listener = (material: TlsMaterial) => void;

async function readAll(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([readFile(files.certFile), readFile(files.keyFile), files.caFile ? readFile(files.caFile) : Promise.resolve(undefined)]);
  return ca ? { cert, key, ca } : { cert, key };
}

function digest(m: TlsMaterial): string {
  const h = createHash("sha256").update(m.cert).update("\0").update(m.key).update("\0");
  if (m.ca) h.update(m.ca);
  return h.digest("hex");
}

/** Throws unless the key matches the certificate and every PEM parses, exactly as the TLS stack will load them. */
function validate(m: TlsMaterial): X509Certificate {
  createSecureContext({ cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) });
  if (m.ca && !m.ca.toString("utf8").includes("-----BEGIN CERTIFICATE-----")) throw new Error("CA file holds no PEM certificate");
  return new X509Certificate(m.cert);
}

/**
 * Holds the current certificate, key and CA read from files, and re-reads them on a timer. A new
 * set is published only when it differs and loads cleanly; a half-written rotation (new cert, old
 * key) or a broken file keeps the last good set serving and is logged once.
 */
export class TlsFileWatcher {
  private material: TlsMaterial;
  private x509: X509Certificate;
  private loadedAt = new Date();
  /** Digest of the last file content looked at, good or bad, so one bad state is logged once. */
  private seen: string;
  private active: string;
  private reloads = 0;
  private lastError: string | undefined;
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private readonly opts: TlsWatcherOptions;

  private constructor(opts: TlsWatcherOptions, material: TlsMaterial, x509: X509Certificate) {
    this.opts = opts;
    this.material = material;
    this.x509 = x509;
    this.seen = digest(material);
    this.active = this.seen;
  }

  /** Loads the files once (a config_error names the file set if they are missing or do not match) and starts polling. */
  static async start(opts: TlsWatcherOptions): Promise<TlsFileWatcher> {
    let material: TlsMaterial;
    let x509: X509Certificate;
    try {
      material = await readAll(opts.files);
      x509 = validate(material);
    } catch (err) {
      throw new TollgateError("config_error", `TLS files ${describe(opts.files)}: ${TollgateError.from(err).message}`, { cause: err });
    }
    const watcher = new TlsFileWatcher(opts, material, x509);
    watcher.warnIfOutsideValidity();
    watcher.timer = setInterval(() => void watcher.poll(), opts.pollMs ?? 2000);
    watcher.timer.unref();
    return watcher;
  }

  current(): TlsMaterial {
    return this.material;
  }

  info(): TlsInfo {
    return {
      subject: this.x509.subject.replace(/\n/g, ", "),
      issuer: this.x509.issuer.replace(/\n/g, ", "),
      notBefore: new Date(this.x509.validFrom).toISOString(),
      notAfter: new Date(this.x509.validTo).toISOString(),
      fingerprint256: this.x509.fingerprint256,
      clientCertRequired: this.material.ca !== undefined,
      loadedAt: this.loadedAt.toISOString(),
      reloads: this.reloads,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Calls listener with every new good set (not with the current one). Returns an unsubscribe function. */
  onUpdate(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the files now; resolves once any change is published. Tests use it instead of waiting for the timer. */
  async poll(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = this.check().finally(() => (this.polling = undefined));
    return this.polling;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    this.listeners.clear();
  }

  private async check(): Promise<void> {
    let next: TlsMaterial;
    try {
      next = await readAll(this.opts.files);
    } catch (err) {
      // A file briefly missing mid-rotation is normal; report it only if it persists into the next state.
      this.reject("read", TollgateError.from(err).message, `unreadable:${TollgateError.from(err).message}`);
      return;
    }
    const id = digest(next);
    if (id === this.seen) return;
    if (id === this.active) {
      // The files went back to what is serving (e.g. a rotation was undone): nothing to publish.
      this.seen = id;
      this.lastError = undefined;
      return;
    }
    let x509: X509Certificate;
    try {
      x509 = validate(next);
    } catch (err) {
      this.reject("validate", TollgateError.from(err).message, id);
      return;
    }
    this.seen = id;
    this.active = id;
    this.material = next;
    this.x509 = x509;
    this.loadedAt = new Date();
    this.reloads += 1;
    this.lastError = undefined;
    this.opts.logger.info({ event: "tls_reloaded", files: describe(this.opts.files), subject: this.info().subject, not_after: this.info().notAfter, fingerprint256: x509.fingerprint256 }, "TLS certificates reloaded");
    this.warnIfOutsideValidity();
    for (const listener of this.listeners) listener(next);
  }

  private reject(stage: string, message: string, id: string): void {
    if (id === this.seen) return;
    this.seen = id;
    this.lastError = message;
    this.opts.logger.warn({ event: "tls_reload_rejected", stage, files: describe(this.opts.files), error: message }, "TLS files changed but cannot be used; the previous certificates keep serving");
  }

  private warnIfOutsideValidity(): void {
    const now = Date.now();
    if (now < Date.parse(this.x509.validFrom) || now > Date.parse(this.x509.validTo)) {
      this.opts.logger.warn({ event: "tls_certificate_not_valid_now", not_before: this.x509.validFrom, not_after: this.x509.validTo }, "the serving certificate is outside its validity period");
    }
  }
}

function describe(files: TlsFiles): string {
  return [files.certFile, files.keyFile, files.caFile].filter(Boolean).join(", ");
}

/** Adapts the watcher to grpc-js's certificate provider interface, so grpc-js swaps the secure context itself. */
class WatcherCertificateProvider implements experimental.CertificateProvider {
  private readonly ca = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identity = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly watcher: TlsFileWatcher;

  constructor(watcher: TlsFileWatcher) {
    this.watcher = watcher;
    watcher.onUpdate((m) => {
      // Identity first, CA second: grpc-js applies a context per update, and each step must load on its own.
      for (const l of this.identity) l({ certificate: m.cert, privateKey: m.key });
      if (m.ca) for (const l of this.ca) l({ caCertificate: m.ca });
    });
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.ca.add(listener);
    const ca = this.watcher.current().ca;
    if (ca) process.nextTick(listener, { caCertificate: ca });
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.ca.delete(listener);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identity.add(listener);
    const m = this.watcher.current();
    process.nextTick(listener, { certificate: m.cert, privateKey: m.key });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identity.delete(listener);
  }
}

export interface GrpcTls {
  credentials: ServerCredentials;
  watcher: TlsFileWatcher;
  close(): Promise<void>;
}

/**
 * gRPC server credentials from cert/key/CA files that follow the files without a restart. With a
 * CA file, clients must present a certificate that chains to it (mTLS); the handshake fails otherwise.
 */
export async function createGrpcTls(opts: TlsWatcherOptions): Promise<GrpcTls> {
  const watcher = await TlsFileWatcher.start(opts);
  const provider = new WatcherCertificateProvider(watcher);
  const mutual = opts.files.caFile !== undefined;
  // grpc-js 1.14 names this function's first two parameters (ca, identity) but passes them on as
  // (identity, ca); one provider serves both roles, and for one-way TLS the identity goes first.
  const credentials = mutual
    ? experimental.createCertificateProviderServerCredentials(provider, provider, true)
    : experimental.createCertificateProviderServerCredentials(provider, null, false);
  return { credentials, watcher, close: () => watcher.close() };
}
