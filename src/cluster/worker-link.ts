import cluster from "node:cluster";
import { TollgateError } from "../errors.js";
import { isToWorker, type ToPrimary, type WorkerState } from "./messages.js";

/** Longest a worker waits for the primary's answer (it answers from memory, or by asking every worker for metrics). */
const ASK_TIMEOUT_MS = 5000;

/** A worker's side of the channel to the primary of `--workers`. */
export class WorkerLink {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (m: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor() {
    process.on("message", (m: unknown) => {
      if (!isToWorker(m)) return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if ("error" in m) w.reject(new TollgateError("internal_error", `primary: ${m.error}`));
      else w.resolve(m);
    });
  }

  /** True in a worker forked by `--workers`. */
  static inWorker(): boolean {
    return cluster.isWorker && typeof process.send === "function";
  }

  reportRevision(revision: string): void {
    this.send({ tollgate: "revision", revision });
  }

  async workers(): Promise<WorkerState[]> {
    const answer = (await this.ask("workers")) as { workers: WorkerState[] };
    return answer.workers;
  }

  /** Every worker's metrics, aggregated by the primary (prom-client's AggregatorRegistry). */
  async metrics(): Promise<{ text: string; contentType: string }> {
    const answer = (await this.ask("metrics")) as { metrics: string; contentType: string };
    return { text: answer.metrics, contentType: answer.contentType };
  }

  /** The primary's random reservation key (base64), shared by every worker when no reservationKeyFile is set. */
  async reservationKey(): Promise<Uint8Array> {
    const answer = (await this.ask("reservationKey")) as { reservationKey: string };
    return Buffer.from(answer.reservationKey, "base64");
  }

  private ask(what: "workers" | "metrics" | "reservationKey"): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new TollgateError("internal_error", `no answer from the primary within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(id, { resolve, reject, timer });
      this.send({ tollgate: "ask", id, what });
    });
  }

  private send(m: ToPrimary): void {
    // A primary that is gone cannot be told; the worker's own answers still work.
    if (process.connected) process.send?.(m);
  }
}
