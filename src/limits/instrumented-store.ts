import type { Metrics } from "../observability/metrics.js";
import type { LimitStore } from "./types.js";

/** Wraps a store so every apply() is timed and failures are counted (reconcile() is ext_proc's to measure). */
export function instrumentStore(store: LimitStore, metrics: Metrics): LimitStore {
  // One labels object for every observation, and performance.now() instead of startTimer's
  // hrtime pairs and closures: this runs on every ShouldRateLimit and limited Check.
  const labels = Object.freeze({ store: store.kind });
  return {
    kind: store.kind,
    async apply(requests, options) {
      const started = performance.now();
      try {
        return await store.apply(requests, options);
      } catch (err) {
        metrics.storeErrors.inc(labels);
        throw err;
      } finally {
        metrics.storeDuration.observe(labels, (performance.now() - started) / 1000);
      }
    },
    reconcile: (adjustments, options) => store.reconcile(adjustments, options),
    peek: (counters) => store.peek(counters),
    close: () => store.close(),
  };
}
