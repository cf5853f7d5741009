import { spawn, type ChildProcess } from "node:child_process";
import { PendingReplies, type WorkerGone } from "./pending-replies.js";

/**
 * A small Node process running inline CommonJS source that answers every message sent over its IPC
 * channel with one message carrying the same `id`: InlineWorker's contract, in a process of its own.
 *
 * For spawning. Node forks the whole process to spawn a child (Linux, libuv: fork, not vfork), and
 * the fork copies the page tables under the memory-map lock: a serving process of a few hundred MB
 * stopped answering for tens of ms at each opa run, whichever of its threads spawned. This process
 * is forked once, while it is small (`start()` at boot), and does the spawning from then on.
 *
 * It keeps the parent alive only while a request waits, exits when the parent goes away, and
 * answers waiting requests with WorkerGone if it dies; the next request starts a new one.
 */
export class InlineChild<Reply extends { id: number }> {
  private child: ChildProcess | undefined;
  private readonly pending = new PendingReplies<Reply>((on) => this.child && setRef(this.child, on));

  constructor(
    private readonly source: string,
    private readonly name: string,
  ) {}

  /** Starts the process now (before the caller's memory grows) instead of on the first request. */
  start(): void {
    this.process();
  }

  request(message: Record<string, unknown>): Promise<Reply | WorkerGone> {
    const child = this.process();
    return this.pending.wait((id) =>
      child.send({ ...message, id }, (err) => {
        if (err) this.pending.answer({ id, failed: `${this.name}: ${err.message}` });
      }),
    );
  }

  private process(): ChildProcess {
    if (this.child) return this.child;
    // No NODE_OPTIONS: a parent run with loader hooks (tsx, a test runner) would start them here too.
    const { NODE_OPTIONS: _, ...env } = process.env;
    const child = spawn(process.execPath, ["-e", this.source], { stdio: ["ignore", "ignore", "inherit", "ipc"], env, serialization: "advanced" });
    setRef(child, false);
    child.on("message", (reply: Reply) => this.pending.answer(reply));
    child.on("error", (err) => this.pending.failAll(`${this.name}: ${err.message}`));
    child.on("exit", () => {
      if (this.child === child) this.child = undefined;
      this.pending.failAll(`${this.name} process exited`);
    });
    this.child = child;
    return child;
  }
}

function setRef(child: ChildProcess, on: boolean): void {
  if (on) {
    child.ref();
    child.channel?.ref();
  } else {
    child.unref();
    child.channel?.unref();
  }
}
