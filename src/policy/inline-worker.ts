import { Worker } from "node:worker_threads";
import { TollgateError } from "../errors.js";
import { PendingReplies, type WorkerGone } from "./pending-replies.js";

/**
 * A worker thread running inline CommonJS source (so it runs the same from src/ and dist/) that
 * answers every message it is posted with one message carrying the same `id`. It starts on first
 * use, keeps the process alive only while a request waits, and answers the waiting requests with
 * WorkerGone if it dies; the next request starts a new thread.
 */
export class InlineWorker<Reply extends { id: number }> {
  private worker: Worker | undefined;
  private readonly pending = new PendingReplies<Reply>((on) => (on ? this.worker?.ref() : this.worker?.unref()));

  constructor(
    private readonly source: string,
    private readonly name: string,
  ) {}

  request(message: Record<string, unknown>): Promise<Reply | WorkerGone> {
    const worker = this.thread();
    return this.pending.wait((id) => worker.postMessage({ ...message, id }));
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // No inherited execArgv: a parent started with --input-type=module would run this CommonJS source as ESM.
    const worker = new Worker(this.source, { eval: true, execArgv: [] });
    worker.unref();
    worker.on("message", (reply: Reply) => this.pending.answer(reply));
    worker.on("error", (err: unknown) => this.pending.failAll(TollgateError.from(err).message));
    worker.on("exit", () => {
      if (this.worker === worker) this.worker = undefined;
      this.pending.failAll(`${this.name} thread exited`);
    });
    this.worker = worker;
    return worker;
  }
}
