import { TollgateError } from "../errors.js";
import type { AuditEntry } from "../audit/index.js";
import type { Logger } from "../observability/logger.js";
import type { PolicyEngine } from "./engine.js";
import { describeOrigin, type PolicyOrigin } from "./origin.js";

/** A loaded revision, ready to serve. */
export interface Revision {
  revision: string;
  origin: PolicyOrigin;
  engine: PolicyEngine;
  activatedAt?: string;
  keyId?: string | undefined;
  testsRun: boolean;
}

export interface RevisionInfo {
  revision: string;
  origin: PolicyOrigin;
  /** The origin as audit records and logs show it. */
  source: string;
  activatedAt: string | undefined;
  keyId: string | undefined;
  testsRun: boolean;
  active: boolean;
}

export interface AuditSink {
  append(entry: AuditEntry): unknown;
}

export interface PolicyRegistryOptions {
  logger: Logger;
  /** How many revisions to keep loaded for rollback, the active one included. */
  keep?: number;
  audit?: AuditSink;
  onActivate?: (rev: Revision) => void;
  onReject?: (error: TollgateError) => void;
}

const info = (r: Revision, active: boolean): RevisionInfo => ({
  revision: r.revision, origin: r.origin, source: describeOrigin(r.origin), activatedAt: r.activatedAt, keyId: r.keyId, testsRun: r.testsRun, active,
});

/**
 * The one place a revision becomes active. Every source (policies folder, bundle file, bundle
 * server) hands its built revision here; activation is a single reference swap, so no request
 * can see a half-swapped state. Keeps the last N revisions loaded for a one-step rollback, holds
 * an optional candidate for shadow evaluation, and records every change in the audit trail.
 */
export class PolicyRegistry {
  private active: Revision | undefined;
  private history: Revision[] = [];
  private shadow: Revision | undefined;
  private readonly opts: PolicyRegistryOptions;

  constructor(opts: PolicyRegistryOptions) {
    this.opts = opts;
  }

  current(): PolicyEngine | undefined {
    return this.active?.engine;
  }

  candidate(): PolicyEngine | undefined {
    return this.shadow?.engine;
  }

  activeRevision(): RevisionInfo | undefined {
    return this.active && info(this.active, true);
  }

  candidateRevision(): RevisionInfo | undefined {
    return this.shadow && info(this.shadow, false);
  }

  revisions(): RevisionInfo[] {
    return this.history.map((r) => info(r, r === this.active)).reverse();
  }

  activate(rev: Revision, operator?: string): void {
    this.swap({ ...rev, activatedAt: new Date().toISOString() }, "activation", operator);
  }

  reject(origin: PolicyOrigin, error: TollgateError, revision?: string): void {
    this.opts.onReject?.(error);
    this.record({ action: "rejection", source: describeOrigin(origin), revision, previousRevision: this.active?.revision, reason: error.message });
  }

  /** Returns to an earlier loaded revision (the previous one when none is named). */
  rollback(revision?: string, operator?: string): RevisionInfo {
    const idx = this.history.findIndex((r) => r === this.active);
    const target = revision === undefined ? this.history[idx - 1] : this.history.find((r) => r.revision === revision && r !== this.active);
    if (!target) {
      throw new TollgateError("config_error", revision === undefined ? "no earlier revision to roll back to" : `revision ${revision} is not among the ${this.history.length} kept revisions`);
    }
    this.swap(target, "rollback", operator);
    return info(target, true);
  }

  setCandidate(rev: Revision | undefined): void {
    this.shadow = rev;
    if (rev) this.opts.logger.info({ event: "candidate_loaded", revision: rev.revision, source: describeOrigin(rev.origin) }, "candidate policy loaded for shadow evaluation");
  }

  /** Makes the candidate the active revision. */
  promote(operator?: string, details?: Record<string, unknown>): RevisionInfo {
    const candidate = this.shadow;
    if (!candidate) throw new TollgateError("config_error", "there is no candidate policy to promote");
    this.shadow = undefined;
    this.swap({ ...candidate, activatedAt: new Date().toISOString() }, "promotion", operator, details);
    return info(candidate, true);
  }

  private swap(rev: Revision, action: "activation" | "rollback" | "promotion", operator?: string, details?: Record<string, unknown>): void {
    const previous = this.active;
    this.active = rev;
    if (!this.history.includes(rev)) {
      this.history.push(rev);
      const keep = this.opts.keep ?? 5;
      if (this.history.length > keep) this.history = this.history.slice(-keep);
    }
    this.opts.logger.info(
      { event: action === "activation" ? "policy_activated" : `policy_${action}`, revision: rev.revision, previous_revision: previous?.revision, source: describeOrigin(rev.origin), tests_run: rev.testsRun, operator },
      `policy ${action}`,
    );
    this.record({ action, source: describeOrigin(rev.origin), revision: rev.revision, previousRevision: previous?.revision, keyId: rev.keyId, tests: { ran: rev.testsRun }, operator, details });
    this.opts.onActivate?.(rev);
  }

  private record(entry: AuditEntry): void {
    if (!this.opts.audit) return;
    try {
      this.opts.audit.append(entry);
    } catch (err) {
      // The change already happened; losing its record must be loud, not fatal.
      this.opts.logger.error({ event: "audit_append_failed", error: TollgateError.from(err).message }, "could not write the audit trail");
    }
  }
}
