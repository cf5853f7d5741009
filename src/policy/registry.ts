import { TollgateError } from "../errors.js";
import type { AuditAction, AuditEntry } from "../audit/index.js";
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
  testsPassed?: number | undefined;
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

/** One change (or refused change) as the registry saw it, kept in memory whether or not an audit file is set. */
export interface PolicyEvent {
  at: string;
  action: AuditAction;
  source: string;
  revision?: string;
  previousRevision?: string;
  operator?: string;
  /** A rejection's cause: OPA's own message (file and line) for a broken edit or failing test. */
  reason?: string;
}

/** How many events the registry remembers for /v1/policy/history and the dashboard. */
const EVENTS_KEPT = 200;

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
  private recent: PolicyEvent[] = [];
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

  /** Policy events, newest first (at most 200). */
  events(): PolicyEvent[] {
    return [...this.recent].reverse();
  }

  /** The newest rejection, unless a revision has been activated since. */
  lastRejection(): PolicyEvent | undefined {
    const last = this.recent.at(-1);
    return last?.action === "rejection" ? last : undefined;
  }

  /**
   * Activates `rev` and returns it, unless its revision is already active: an unchanged save
   * (touch, an editor rewriting the same bytes, a bundle server re-serving it) then changes
   * nothing, records nothing and returns the active revision, so the kept slots hold distinct
   * revisions and a rollback always goes somewhere different.
   */
  activate(rev: Revision, operator?: string): Revision {
    if (this.active?.revision === rev.revision) {
      this.opts.logger.debug({ event: "policy_unchanged", revision: rev.revision, source: describeOrigin(rev.origin) }, "policy unchanged; nothing to activate");
      return this.active;
    }
    const next = { ...rev, activatedAt: new Date().toISOString() };
    // A revision seen before (an edit undone) moves to the newest slot instead of being kept twice.
    this.history = this.history.filter((r) => r.revision !== rev.revision);
    this.swap(next, "activation", operator);
    return next;
  }

  reject(origin: PolicyOrigin, error: TollgateError, revision?: string): void {
    this.opts.onReject?.(error);
    this.record({ action: "rejection", source: describeOrigin(origin), revision, previousRevision: this.active?.revision, reason: error.message });
  }

  /** Returns to an earlier loaded revision (the previous one when none is named). */
  rollback(revision?: string, operator?: string): RevisionInfo {
    const target = this.rollbackTarget(revision);
    this.swap(target, "rollback", operator);
    return info(target, true);
  }

  /** The kept revision a rollback would activate (the previous one when none is named), or why there is none. */
  rollbackTarget(revision?: string): Revision {
    const idx = this.history.findIndex((r) => r === this.active);
    if (revision !== undefined && revision === this.active?.revision) throw new TollgateError("config_error", `revision ${revision} is already active`);
    const target = revision === undefined ? this.history[idx - 1] : this.history.find((r) => r.revision === revision);
    if (!target) {
      throw new TollgateError("config_error", revision === undefined ? "no earlier revision to roll back to" : `revision ${revision} is not among the ${this.history.length} kept revisions`);
    }
    return target;
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
    this.record({ action, source: describeOrigin(rev.origin), revision: rev.revision, previousRevision: previous?.revision, keyId: rev.keyId, tests: { ran: rev.testsRun, ...(rev.testsPassed !== undefined ? { passed: rev.testsPassed, failed: 0 } : {}) }, operator, details });
    this.opts.onActivate?.(rev);
  }

  private record(entry: AuditEntry): void {
    this.recent.push({
      at: new Date().toISOString(),
      action: entry.action,
      source: entry.source,
      ...(entry.revision ? { revision: entry.revision } : {}),
      ...(entry.previousRevision ? { previousRevision: entry.previousRevision } : {}),
      ...(entry.operator ? { operator: entry.operator } : {}),
      ...(entry.reason ? { reason: entry.reason } : {}),
    });
    if (this.recent.length > EVENTS_KEPT) this.recent.splice(0, this.recent.length - EVENTS_KEPT);
    if (!this.opts.audit) return;
    try {
      this.opts.audit.append(entry);
    } catch (err) {
      // The change already happened; losing its record must be loud, not fatal.
      this.opts.logger.error({ event: "audit_append_failed", error: TollgateError.from(err).message }, "could not write the audit trail");
    }
  }
}
