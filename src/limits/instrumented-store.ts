import type { Metrics } from "../observability/metrics.js";
import type { LimitStore } from "./types.js";

/** Wraps a store so every apply() is timed and failures are counted (reconcile() is ext_proc's to measure). */
export function instrumentStore(store: LimitStore, metrics: Metrics): LimitStore {
  return {
    kind: store.kind,
    async apply(requests, options) {
      const end = metrics.storeDuration.startTimer({ store: store.kind });
      try {
        return await store.apply(requests, options);
      } catch (err) {
        metrics.storeErrors.inc({ store: store.kind });
        throw err;
      } finally {
        end();
      }
    },
    reconcile: (adjustments) => store.reconcile(adjustments),
    peek: (counters) => store.peek(counters),
    close: () => store.close(),
  };
}
