export { DecisionLogSink, type DecisionLogStats, type EnqueueResult } from "./sink.js";
export type { DecisionLogSinkOptions } from "./options.js";
export { decisionLogEvent, type DecisionLogEvent, type DecisionLogEventInit } from "./event.js";
export { backoffDelay } from "./backoff.js";
export type { TlsOptions } from "./upload.js";
