/** What workers and the primary say to each other over the cluster IPC channel (tollgate's own messages). */

export interface WorkerState {
  /** cluster worker id (1, 2, … ; a restarted worker gets a new one). */
  id: number;
  pid: number;
  /** The active policy revision this worker serves; absent until one is active. */
  revision?: string;
}

/** A policy change every worker makes, so that all of them keep serving one revision. */
export interface PolicyCommand {
  action: "rollback" | "promote";
  /** The revision every worker ends on: the rollback's target, or the candidate promoted. */
  revision: string;
  operator?: string;
  /** Only check that this worker could carry it out (holds the revision), changing nothing. */
  prepare?: boolean;
}

/** One worker's outcome of a PolicyCommand: the revision it now serves, or why it could not. */
export interface CommandResult {
  worker: number;
  pid: number;
  revision?: string;
  error?: string;
}

/** Worker → primary. */
export type ToPrimary =
  | { tollgate: "revision"; revision: string }
  | { tollgate: "ask"; id: number; what: "workers" | "metrics" | "reservationKey" }
  | { tollgate: "broadcast"; id: number; command: PolicyCommand }
  | { tollgate: "done"; id: number; revision?: string; error?: string };

/** Primary → worker: the answer to an "ask" or a "broadcast", or a command to carry out. */
export type ToWorker =
  | { tollgate: "answer"; id: number; workers: WorkerState[] }
  | { tollgate: "answer"; id: number; metrics: string; contentType: string }
  | { tollgate: "answer"; id: number; reservationKey: string }
  | { tollgate: "answer"; id: number; results: CommandResult[] }
  | { tollgate: "answer"; id: number; error: string }
  | { tollgate: "command"; id: number; command: PolicyCommand };

const TO_PRIMARY = new Set(["revision", "ask", "broadcast", "done"]);
const TO_WORKER = new Set(["answer", "command"]);

const kind = (m: unknown): unknown => (typeof m === "object" && m !== null ? (m as { tollgate?: unknown }).tollgate : undefined);

export function isToPrimary(m: unknown): m is ToPrimary {
  return TO_PRIMARY.has(kind(m) as string);
}

export function isToWorker(m: unknown): m is ToWorker {
  return TO_WORKER.has(kind(m) as string);
}
