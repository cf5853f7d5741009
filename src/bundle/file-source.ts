import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { TollgateError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { ReloadLoop } from "../watch/reload-loop.js";
import { DEFAULT_BUNDLE_LIMITS, readBundleArchive, type BundleLimits } from "./read.js";
import { manifestRevision, type BundleHandler, type BundleSourceStatus, type FetchedBundle } from "./source-types.js";

export interface FileBundleSourceOptions {
  file: string;
  onBundle: BundleHandler;
  logger: Logger;
  limits?: Partial<BundleLimits>;
  debounceMs?: number;
}

/**
 * A bundle .tar.gz on disk, handed over at load() and again whenever the file changes (written
 * in place or replaced by rename). A file identical to the serving one is not handed over again;
 * a bad one is logged and the current revision keeps serving.
 */
export class FileBundleSource {
  private readonly opts: FileBundleSourceOptions;
  private readonly loop: ReloadLoop;
  private accepted: { digest: string; revision: string } | undefined;
  private readonly state: Omit<BundleSourceStatus, "origin" | "revision" | "digest"> = {
    lastSuccessAt: undefined,
    lastError: undefined,
    lastRejection: undefined,
    consecutiveFailures: 0,
  };

  constructor(opts: FileBundleSourceOptions) {
    this.opts = { ...opts, file: path.resolve(opts.file) };
    this.loop = new ReloadLoop({
      path: this.opts.file,
      run: () => this.load().catch((err: unknown) => this.logRejected(err)),
      logger: opts.logger,
      errorEvent: "bundle_watch_error",
      debounceMs: opts.debounceMs ?? 100,
      watchOptions: { awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 } },
      accept: (event) => event === "add" || event === "change",
    });
  }

  status(): BundleSourceStatus {
    return { origin: this.accepted ? "file" : "none", revision: this.accepted?.revision, digest: this.accepted?.digest, ...this.state };
  }

  /**
   * Reads the file and hands it over. Resolves with the bundle handed over, or undefined when it
   * is the one already serving; rejects when the file cannot be read or the handler refuses it.
   */
  async load(): Promise<FetchedBundle | undefined> {
    let bundle: FetchedBundle;
    try {
      bundle = await this.read();
    } catch (err) {
      const e = TollgateError.from(err, "policy_build_error");
      this.state.lastError = e.message;
      this.state.consecutiveFailures++;
      throw e;
    }
    this.state.lastSuccessAt = new Date().toISOString();
    this.state.lastError = undefined;
    this.state.consecutiveFailures = 0;
    if (this.accepted?.digest === bundle.archive.digest) return undefined;
    try {
      await this.opts.onBundle(bundle);
    } catch (err) {
      const e = TollgateError.from(err, "policy_build_error");
      this.state.lastRejection = e.message;
      throw e;
    }
    this.accepted = { digest: bundle.archive.digest, revision: bundle.revision };
    this.state.lastRejection = undefined;
    return bundle;
  }

  /** Reloads on every change of the file, debounced; loads never overlap. Resolves once the watcher is ready. */
  watch(): Promise<void> {
    return this.loop.start();
  }

  /** Waits for any reload in progress (tests use this to observe a reload deterministically). */
  settled(): Promise<void> {
    return this.loop.settled();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  private async read(): Promise<FetchedBundle> {
    const limit = this.opts.limits?.maxArchiveBytes ?? DEFAULT_BUNDLE_LIMITS.maxArchiveBytes;
    const size = (await stat(this.opts.file)).size;
    if (size > limit) throw new TollgateError("policy_build_error", `bundle file ${this.opts.file}: size ${size} bytes exceeds the limit of ${limit} bytes`);
    const bytes = await readFile(this.opts.file);
    const archive = readBundleArchive(bytes, this.opts.limits);
    return { bytes, archive, revision: manifestRevision(archive), etag: "", origin: "file", location: this.opts.file };
  }

  private logRejected(err: unknown): void {
    const e = TollgateError.from(err);
    this.opts.logger.error(
      { event: "bundle_rejected", file: this.opts.file, error: e.message, serving_revision: this.accepted?.revision },
      "bundle file rejected; the current revision keeps serving",
    );
  }
}
