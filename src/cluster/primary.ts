import cluster, { type Worker } from "node:cluster";
import { randomBytes } from "node:crypto";
import { AggregatorRegistry } from "prom-client";
import type { Logger } from "../observability/logger.js";
import { isToPrimary, type CommandResult, type PolicyCommand, type ToWorker, type WorkerState } from "./messages.js";

/** A worker that dies is replaced after this long (a crash loop then costs one fork a second). */
const RESTART_DELAY_MS = 1000;
/** More deaths than this within RESTART_WINDOW_MS is a crash loop: the primary stops everything. */
const MAX_RESTARTS = 10;
const RESTART_WINDOW_MS = 60_000;
/** How long the primary waits for every worker to carry out a broadcast (under the asking worker's own 5 s). */
const BROADCAST_TIMEOUT_MS = 4000;

interface Broadcast {
  asker: Worker;
  askId: number;
  /** Worker ids that have not answered yet. */
  waiting: Map<number, number>;
  results: CommandResult[];
  timer: NodeJS.Timeout;
}

export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  /** Each worker's own drain time; the primary waits this plus a margin before it kills a straggler. */
  shutdownGraceMs: number;
}

/**
 * The primary of `--workers`: forks the workers (each a whole tollgate sharing the gRPC and admin
 * ports through node:cluster), replaces any that dies, keeps each worker's active revision, and
 * answers a worker's questions: the revision of every worker (for /v1/status) and every worker's
 * metrics in one scrape (prom-client's AggregatorRegistry), and sends a rollback or promotion
 * that one worker received to every worker. SIGTERM/SIGINT drain all workers.
 * Resolves with the process exit code once every worker is gone.
 */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const { logger } = opts;
  const aggregator = new AggregatorRegistry();
  // Without reservationKeyFile each process would sign reservations with its own random key, and a
  // worker could not reconcile what another reserved; so the workers share the primary's.
  const reservationKey = randomBytes(32).toString("base64");
  const states = new Map<number, WorkerState>();
  const deaths: number[] = [];
  let stopping = false;
  let exitCode = 0;
  const broadcasts = new Map<number, Broadcast>();
  let nextBroadcast = 1;

  const fork = (): void => {
    const worker = cluster.fork();
    states.set(worker.id, { id: worker.id, pid: worker.process.pid ?? 0 });
    worker.on("message", (m: unknown) => onMessage(worker, m));
  };

  const answer = (worker: Worker, m: ToWorker): void => {
    if (worker.isConnected()) worker.send(m);
  };

  const settle = (id: number): void => {
    const b = broadcasts.get(id);
    if (!b) return;
    broadcasts.delete(id);
    clearTimeout(b.timer);
    for (const [worker, pid] of b.waiting) b.results.push({ worker, pid, error: "no answer: the worker exited or is stuck" });
    answer(b.asker, { tollgate: "answer", id: b.askId, results: b.results.sort((x, y) => x.worker - y.worker) });
  };

  const broadcast = (asker: Worker, askId: number, command: PolicyCommand): void => {
    const id = nextBroadcast++;
    const targets = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const waiting = new Map(targets.map((w) => [w.id, w.process.pid ?? 0]));
    broadcasts.set(id, { asker, askId, waiting, results: [], timer: setTimeout(() => settle(id), BROADCAST_TIMEOUT_MS) });
    logger.info({ event: "policy_broadcast", action: command.action, revision: command.revision, workers: waiting.size }, `sending the ${command.action} to every worker`);
    for (const w of targets) answer(w, { tollgate: "command", id, command });
  };

  const onMessage = (worker: Worker, m: unknown): void => {
    if (!isToPrimary(m)) return;
    if (m.tollgate === "broadcast") {
      broadcast(worker, m.id, m.command);
      return;
    }
    if (m.tollgate === "done") {
      const b = broadcasts.get(m.id);
      const pid = b?.waiting.get(worker.id);
      if (!b || pid === undefined) return;
      b.waiting.delete(worker.id);
      b.results.push({ worker: worker.id, pid, ...(m.revision !== undefined ? { revision: m.revision } : {}), ...(m.error !== undefined ? { error: m.error } : {}) });
      if (b.waiting.size === 0) settle(m.id);
      return;
    }
    if (m.tollgate === "revision") {
      const state = states.get(worker.id);
      if (state) state.revision = m.revision;
      return;
    }
    if (m.what === "reservationKey") {
      answer(worker, { tollgate: "answer", id: m.id, reservationKey });
      return;
    }
    if (m.what === "workers") {
      answer(worker, { tollgate: "answer", id: m.id, workers: [...states.values()].sort((a, b) => a.id - b.id) });
      return;
    }
    aggregator.clusterMetrics().then(
      (metrics) => answer(worker, { tollgate: "answer", id: m.id, metrics, contentType: aggregator.contentType }),
      (err: unknown) => answer(worker, { tollgate: "answer", id: m.id, error: err instanceof Error ? err.message : String(err) }),
    );
  };

  return new Promise((resolve) => {
    cluster.on("exit", (worker, code, signal) => {
      states.delete(worker.id);
      for (const [id, b] of broadcasts) {
        if (!b.waiting.delete(worker.id)) continue;
        b.results.push({ worker: worker.id, pid: worker.process.pid ?? 0, error: "the worker exited before it answered" });
        if (b.waiting.size === 0) settle(id);
      }
      if (stopping) {
        if (states.size === 0) resolve(exitCode);
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && deaths[0]! < now - RESTART_WINDOW_MS) deaths.shift();
      if (deaths.length > MAX_RESTARTS) {
        logger.error({ event: "workers_crash_loop", deaths: deaths.length, window_ms: RESTART_WINDOW_MS }, "workers keep dying; stopping");
        exitCode = 1;
        stop("crash_loop");
        return;
      }
      logger.warn({ event: "worker_exited", worker: worker.id, pid: worker.process.pid, code, signal }, "worker died; starting a new one");
      setTimeout(() => {
        if (!stopping) fork();
      }, RESTART_DELAY_MS);
    });

    const stop = (reason: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: "shutdown", signal: reason, workers: states.size }, "stopping every worker");
      if (states.size === 0) {
        resolve(exitCode);
        return;
      }
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
      // A worker that outlives its own grace period (plus start-up of the drain) is killed.
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
      }, opts.shutdownGraceMs + 5000).unref();
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));

    logger.info({ event: "workers_starting", workers: opts.workers }, "starting workers");
    for (let i = 0; i < opts.workers; i++) fork();
  });
}
