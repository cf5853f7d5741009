import { Worker } from "node:worker_threads";
import { TollgateError } from "../errors.js";

/** What a request gets when its thread died before answering. */
export interface WorkerGone {
  id: number;
  failed: string;
}

/**
 * A worker thread running inline CommonJS source (so it runs the same from src/ and dist/) that
 * answers every message it is posted with one message carrying the same `id`. It starts on first
 * use, keeps the process alive only while a request waits, and answers the waiting requests with
 * WorkerGone if it dies; the next request starts a new thread.
 */
export class InlineWorker<Reply extends { id: number }> {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, (reply: Reply | WorkerGone) => void>();

  constructor(
    private readonly source: string,
    private readonly name: string,
  ) {}

  request(message: Record<string, unknown>): Promise<Reply | WorkerGone> {
    const worker = this.thread();
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(id, (reply) => {
        if (this.waiting.size <= 1) worker.unref();
        resolve(reply);
      });
      worker.postMessage({ ...message, id });
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // No inherited execArgv: a parent started with --input-type=module would run this CommonJS source as ESM.
    const worker = new Worker(this.source, { eval: true, execArgv: [] });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
    worker.on("error", (err: unknown) => this.failAll(TollgateError.from(err).message));
    worker.on("exit", () => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(`${this.name} thread exited`);
    });
    this.worker = worker;
    return worker;
  }

  private failAll(message: string): void {
    for (const [id, done] of this.waiting) done({ id, failed: message });
    this.waiting.clear();
  }
}
