/** What a request gets when the thread or process answering it died before it answered. */
export interface WorkerGone {
  id: number;
  failed: string;
}

/**
 * The requests sent to an inline worker thread or child process, each waiting for the one reply
 * that carries its id. `keepAlive(true)` is called when the first starts waiting and
 * `keepAlive(false)` when the last is answered, so the helper holds the process open only then.
 */
export class PendingReplies<Reply extends { id: number }> {
  private nextId = 0;
  private readonly waiting = new Map<number, (reply: Reply | WorkerGone) => void>();

  constructor(private readonly keepAlive: (on: boolean) => void) {}

  /** Calls `send` with a fresh id; resolves with the reply carrying it. */
  wait(send: (id: number) => void): Promise<Reply | WorkerGone> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.waiting.size === 0) this.keepAlive(true);
      this.waiting.set(id, (reply) => {
        if (this.waiting.size <= 1) this.keepAlive(false);
        resolve(reply);
      });
      send(id);
    });
  }

  answer(reply: Reply | WorkerGone): void {
    this.waiting.get(reply.id)?.(reply);
    this.waiting.delete(reply.id);
  }

  /** Answers every waiting request with `message` (the helper died). */
  failAll(message: string): void {
    for (const [id, done] of this.waiting) done({ id, failed: message });
    this.waiting.clear();
  }
}
