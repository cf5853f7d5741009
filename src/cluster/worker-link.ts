import cluster from "node:cluster";
import { TollgateError } from "../errors.js";
import { isToWorker, type CommandResult, type PolicyCommand, type ToPrimary, type WorkerState } from "./messages.js";

/** Longest a worker waits for the primary's answer (it answers from memory, or by asking every worker for metrics). */
const ASK_TIMEOUT_MS = 5000;

/** A worker's side of the channel to the primary of `--workers`. */
export class WorkerLink {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (m: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private carryOut: ((command: PolicyCommand) => string) | undefined;

  constructor() {
    process.on("message", (m: unknown) => {
      if (!isToWorker(m)) return;
      if (m.tollgate === "command") {
        this.send({ tollgate: "done", id: m.id, ...this.run(m.command) });
        return;
      }
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

  /** How this worker carries out a rollback or promotion another worker received: returns the revision it now serves. */
  onCommand(carryOut: (command: PolicyCommand) => string): void {
    this.carryOut = carryOut;
  }

  /** Has every worker (this one included) carry out `command`; one result per worker. */
  async broadcast(command: PolicyCommand): Promise<CommandResult[]> {
    const answer = (await this.ask({ tollgate: "broadcast", command })) as { results: CommandResult[] };
    return answer.results;
  }

  async workers(): Promise<WorkerState[]> {
    const answer = (await this.ask({ tollgate: "ask", what: "workers" })) as { workers: WorkerState[] };
    return answer.workers;
  }

  /** Every worker's metrics, aggregated by the primary (prom-client's AggregatorRegistry). */
  async metrics(): Promise<{ text: string; contentType: string }> {
    const answer = (await this.ask({ tollgate: "ask", what: "metrics" })) as { metrics: string; contentType: string };
    return { text: answer.metrics, contentType: answer.contentType };
  }

  /** The primary's random reservation key (base64), shared by every worker when no reservationKeyFile is set. */
  async reservationKey(): Promise<Uint8Array> {
    const answer = (await this.ask({ tollgate: "ask", what: "reservationKey" })) as { reservationKey: string };
    return Buffer.from(answer.reservationKey, "base64");
  }

  private run(command: PolicyCommand): { revision: string } | { error: string } {
    if (!this.carryOut) return { error: "this worker has no policy to change yet" };
    try {
      return { revision: this.carryOut(command) };
    } catch (err) {
      return { error: TollgateError.from(err).message };
    }
  }

  private ask(question: DistributiveOmit<Extract<ToPrimary, { tollgate: "ask" | "broadcast" }>, "id">): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new TollgateError("internal_error", `no answer from the primary within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(id, { resolve, reject, timer });
      this.send({ ...question, id } as ToPrimary);
    });
  }

  private send(m: ToPrimary): void {
    // A primary that is gone cannot be told; the worker's own answers still work.
    if (process.connected) process.send?.(m);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
