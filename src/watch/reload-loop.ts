import { watch, type ChokidarOptions, type FSWatcher } from "chokidar";
import type { Logger } from "../observability/logger.js";

export interface ReloadLoopOptions {
  /** File or folder to watch. */
  path: string;
  /** The reload itself; it reports its own failures (a rejection is only logged here). */
  run: () => Promise<unknown>;
  logger: Logger;
  /** Names the watcher's error log line, e.g. "policy_watch_error". */
  errorEvent: string;
  debounceMs: number;
  watchOptions?: ChokidarOptions;
  /** Which watcher events trigger a reload (all by default). */
  accept?: (event: string) => boolean;
}

/**
 * Watches a path and reruns a reload after changes settle: debounced, never two at once, and a
 * change that lands during a reload triggers one more. Shared by the policies folder, the bundle
 * file and the rate-limit config folder.
 */
export class ReloadLoop {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly opts: ReloadLoopOptions;

  constructor(opts: ReloadLoopOptions) {
    this.opts = opts;
  }

  /** Starts watching; resolves once the watcher has scanned the path. */
  async start(): Promise<void> {
    if (this.watcher) return;
    const watcher = watch(this.opts.path, { ignoreInitial: true, ...this.opts.watchOptions });
    this.watcher = watcher;
    watcher.on("all", (event) => {
      if (!this.opts.accept || this.opts.accept(event)) this.schedule();
    });
    watcher.on("error", (err) => this.opts.logger.warn({ event: this.opts.errorEvent, err }, "file watcher error"));
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  }

  /** Runs the reload now (or right after the one in progress). */
  trigger(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.opts
      .run()
      .then(
        () => undefined,
        (err: unknown) => this.opts.logger.debug({ event: "reload_failed", err }, "reload failed"),
      )
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          void this.trigger();
        }
      });
    return this.running;
  }

  /** Waits until no reload is scheduled or running. */
  async settled(): Promise<void> {
    while (this.timer || this.running) {
      if (this.running) await this.running;
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.watcher?.close();
    this.watcher = undefined;
    if (this.running) await this.running;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.trigger();
    }, this.opts.debounceMs);
  }
}
