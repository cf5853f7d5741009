import type { Logger } from "pino";
import { ReloadLoop } from "../../watch/reload-loop.js";
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
  private readonly loop: ReloadLoop;
  private last: ReloadEvent | undefined;

  private constructor(options: ConfigWatcherOptions, initial: RateLimitConfig) {
    this.options = options;
    this.config = initial;
    this.loop = new ReloadLoop({
      path: options.dir,
      run: async () => void (this.last = await this.loadOnce()),
      logger: options.logger,
      errorEvent: "ratelimit_config_watch_error",
      debounceMs: options.debounceMs ?? 200,
      // depth 1 sees Kubernetes ConfigMap swaps, which replace a "..data" directory symlink.
      watchOptions: { depth: 1, persistent: true },
    });
  }

  /** Loads the directory (throws TollgateError("config_error") when that fails), then watches it. */
  static async start(options: ConfigWatcherOptions): Promise<RateLimitConfigWatcher> {
    const initial = await loadConfigDir(options);
    const self = new RateLimitConfigWatcher(options, initial);
    self.logLoaded(initial);
    await self.loop.start();
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
  async reload(): Promise<ReloadEvent> {
    await this.loop.trigger();
    return this.last!;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.loop.close();
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
}
