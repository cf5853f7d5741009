import type { PolicyOrigin } from "./origin.js";

/**
 * A place revisions come from: a policies folder, a bundle file or a bundle server. A source
 * builds or reads each revision into a BuiltPolicy and hands it to its PolicyActivator; it never
 * activates anything itself.
 */
export interface PolicySource {
  readonly origin: PolicyOrigin;
  /** Loads the first revision (a failure is recorded, not thrown, unless it is a config_error) and starts watching or polling. */
  start(): Promise<void>;
  /** Resolves once any load in progress has finished (tests observe reloads with it). */
  settled(): Promise<void>;
  close(): Promise<void>;
}
