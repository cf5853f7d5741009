/** What workers and the primary say to each other over the cluster IPC channel (tollgate's own messages). */

export interface WorkerState {
  /** cluster worker id (1, 2, … ; a restarted worker gets a new one). */
  id: number;
  pid: number;
  /** The active policy revision this worker serves; absent until one is active. */
  revision?: string;
}

/** Worker → primary. */
export type ToPrimary =
  | { tollgate: "revision"; revision: string }
  | { tollgate: "ask"; id: number; what: "workers" | "metrics" | "reservationKey" };

/** Primary → worker: the answer to an "ask". */
export type ToWorker =
  | { tollgate: "answer"; id: number; workers: WorkerState[] }
  | { tollgate: "answer"; id: number; metrics: string; contentType: string }
  | { tollgate: "answer"; id: number; reservationKey: string }
  | { tollgate: "answer"; id: number; error: string };

export function isToPrimary(m: unknown): m is ToPrimary {
  return typeof m === "object" && m !== null && ((m as { tollgate?: unknown }).tollgate === "revision" || (m as { tollgate?: unknown }).tollgate === "ask");
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === "object" && m !== null && (m as { tollgate?: unknown }).tollgate === "answer";
}
