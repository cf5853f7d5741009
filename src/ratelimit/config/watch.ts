import { watch, type FSWatcher } from "chokidar";
import type { Logger } from "pino";
import { TollgateError } from "../../errors.js";
import { loadConfigDir, type LoadDirOptions } from "./load.js";
import type { RateLimitConfig } from "./types.js";

export type ReloadEvent = { ok: true; config: RateLimitConfig } | { ok: false; error: TollgateError };

export interface ConfigWatcherOptions extends LoadDirOptions {
  logger: Logger;
  /** Quiet time after the last file event before reloading. Default 200 ms. */
  debounceMs?: number;
}

/**
 * Keeps the rate limit config of a directory current. A reload reads every file again; when any
 * file is bad the last good config stays in force and the error is logged and reported to
 * onReload listeners. Start with RateLimitConfigWatcher.start(), which fails if the first load fails.
 */
export class RateLimitConfigWatcher {
  readonly stats = { reloads: 0, reloadErrors: 0 };
  private config: RateLimitConfig;
  private readonly options: ConfigWatcherOptions;
  private readonly listeners = new Set<(event: ReloadEvent) => void>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReloadEvent> | undefined;
  private again = false;
  private closed = false;

  private constructor(options: ConfigWatcherOptions, initial: RateLimitConfig) {
    this.options = options;
    this.config = initial;
  }

  /** Loads the directory (throws TollgateError("config_error") when that fails), then watches it. */
  static async start(options: ConfigWatcherOptions): Promise<RateLimitConfigWatcher> {
    const initial = await loadConfigDir(options);
    const self = new RateLimitConfigWatcher(options, initial);
    self.logLoaded(initial);
    await self.watchDir();
    return self;
  }

  current(): RateLimitConfig {
    return this.config;
  }

  /** Called after every reload attempt, good or bad. Returns a function that unsubscribes. */
  onReload(listener: (event: ReloadEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reloads now (also used by the watcher). Concurrent calls share one load, plus one more if files changed meanwhile. */
  reload(): Promise<ReloadEvent> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loadOnce().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.reload();
      }
    });
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private async loadOnce(): Promise<ReloadEvent> {
    let event: ReloadEvent;
    try {
      const config = await loadConfigDir(this.options);
      this.config = config;
      this.stats.reloads += 1;
      this.logLoaded(config);
      event = { ok: true, config };
    } catch (err: unknown) {
      const error = TollgateError.from(err, "config_error");
      this.stats.reloadErrors += 1;
      this.options.logger.error(
        { event: "ratelimit_config_reload_failed", reason: error.code, dir: this.options.dir, err: error.message },
        "rate limit config reload failed; keeping the last good config",
      );
      event = { ok: false, error };
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err: unknown) {
        this.options.logger.error({ event: "ratelimit_reload_listener_failed", err: TollgateError.from(err).message }, "onReload listener threw");
      }
    }
    return event;
  }

  private logLoaded(config: RateLimitConfig): void {
    this.options.logger.info(
      { event: "ratelimit_config_loaded", dir: this.options.dir, files: config.files.length, domains: [...config.domains.keys()] },
      "rate limit config loaded",
    );
    for (const warning of config.warnings) {
      this.options.logger.warn({ event: "ratelimit_config_warning", warning }, "rate limit config warning");
    }
  }

  private async watchDir(): Promise<void> {
    // depth 1 sees Kubernetes ConfigMap swaps, which replace a "..data" directory symlink.
    const watcher = watch(this.options.dir, { ignoreInitial: true, depth: 1, persistent: true });
    this.watcher = watcher;
    watcher.on("all", () => this.schedule());
    watcher.on("error", (err: unknown) => {
      this.options.logger.error({ event: "ratelimit_config_watch_error", err: TollgateError.from(err).message }, "rate limit config watcher error");
    });
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.options.debounceMs ?? 200);
  }
}
