/** A loaded, ready policy revision. evaluate() is synchronous: it runs to completion on the event loop. */
export interface PolicyEngine {
  readonly revision: string;
  /** The revision's data document, as loaded into the policy. */
  readonly data: unknown;
  /** Returns OPA's result set for the decision entrypoint: [{ result }] or [] when undefined. */
  evaluate(input: unknown): unknown;
  /** Evaluates data.system.log.mask for a decision-log event, when the policy defines it. */
  evaluateLogMask?(event: unknown): unknown;
  /** The revision defines data.system.log.mask. */
  readonly hasLogMask?: boolean;
  /** Evaluates data.system.log.drop for a decision-log event, when the policy defines it. */
  evaluateLogDrop?(event: unknown): unknown;
  /** Bytes of linear memory the instance holds now. */
  memoryBytes?(): number;
}

/** Built-ins tollgate supplies to the WASM module; beginEvaluation pins per-evaluation values such as time.now_ns. */
export interface HostBuiltins {
  builtins: Record<string, (...args: never[]) => unknown>;
  beginEvaluation(): void;
}
