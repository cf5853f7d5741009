import type { Decision, Pair, PolicyLimit } from "./decision.js";
import { maskString } from "../observability/mask.js";

/** Kinds of disagreement, in the order they appear in ShadowDiff.kinds. */
export const SHADOW_DIFF_KINDS = [
  "allow_to_deny",
  "deny_to_allow",
  "status_changed",
  "body_changed",
  "headers_added",
  "headers_removed",
  "headers_changed",
  "limits_changed",
] as const;
export type ShadowDiffKind = (typeof SHADOW_DIFF_KINDS)[number];

export type HeaderGroup = "headers" | "response_headers_to_add" | "request_headers_to_remove" | "upstream_secrets";

/** A header by name only; values never appear in a diff. */
export interface HeaderRef {
  group: HeaderGroup;
  name: string;
}

export interface LimitSummary {
  name: string;
  limit_key: string;
  limit: number;
  window_seconds: number;
  cost: number;
  algorithm: string;
  failure_mode: string;
  shadow: boolean;
}

export interface LimitChange {
  limit_key: string;
  fields: string[];
  active: LimitSummary;
  candidate: LimitSummary;
}

/**
 * How the candidate's answer differs from the active one's. When allowed flips, only the flip is
 * reported (the rest of the two answers mean different things). Status and body (or message) are
 * compared between two denials, limits between two allows, headers whenever allowed agrees.
 */
export interface ShadowDiff {
  kinds: ShadowDiffKind[];
  allowed: { active: boolean; candidate: boolean };
  /** What the client would see: 200 when allowed, else the denial status. */
  status: { active: number; candidate: number };
  headers?: { added: HeaderRef[]; removed: HeaderRef[]; changed: HeaderRef[] };
  limits?: { added: LimitSummary[]; removed: LimitSummary[]; changed: LimitChange[] };
  body?: { active_bytes: number; candidate_bytes: number };
}

function denialTextBytes(d: Decision): number {
  return Buffer.byteLength(d.body ?? d.message ?? "");
}

function status(d: Decision): number {
  return d.allowed ? 200 : d.httpStatus;
}

function headerGroups(d: Decision): Record<HeaderGroup, readonly Pair[]> {
  return {
    headers: d.headers,
    response_headers_to_add: d.responseHeadersToAdd,
    request_headers_to_remove: d.requestHeadersToRemove.map((name): Pair => [name, ""]),
    upstream_secrets: d.upstreamSecrets,
  };
}

function byName(pairs: readonly Pair[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of pairs) {
    const name = k.toLowerCase();
    out.set(name, [...(out.get(name) ?? []), v]);
  }
  return out;
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function diffHeaders(active: Decision, candidate: Decision): NonNullable<ShadowDiff["headers"]> {
  const out: NonNullable<ShadowDiff["headers"]> = { added: [], removed: [], changed: [] };
  const a = headerGroups(active);
  const c = headerGroups(candidate);
  for (const group of Object.keys(a) as HeaderGroup[]) {
    const before = byName(a[group]);
    const after = byName(c[group]);
    const ref = (name: string): HeaderRef => ({ group, name: maskString(name) });
    for (const [name, values] of after) {
      const old = before.get(name);
      if (old === undefined) out.added.push(ref(name));
      else if (!sameList(old, values)) out.changed.push(ref(name));
    }
    for (const name of before.keys()) if (!after.has(name)) out.removed.push(ref(name));
  }
  const order = (x: HeaderRef, y: HeaderRef) => (x.group === y.group ? (x.name < y.name ? -1 : x.name > y.name ? 1 : 0) : x.group < y.group ? -1 : 1);
  out.added.sort(order);
  out.removed.sort(order);
  out.changed.sort(order);
  return out;
}

function summary(l: PolicyLimit): LimitSummary {
  return {
    name: maskString(l.name),
    limit_key: maskString(l.key),
    limit: l.limit,
    window_seconds: l.windowSeconds,
    cost: l.cost,
    algorithm: l.algorithm,
    failure_mode: l.failureMode,
    shadow: l.shadow,
  };
}

const LIMIT_FIELDS = ["name", "limit", "window_seconds", "cost", "algorithm", "failure_mode", "shadow"] as const;

/** Limits are matched by key; several limits under one key pair up in order. */
function diffLimits(active: readonly PolicyLimit[], candidate: readonly PolicyLimit[]): NonNullable<ShadowDiff["limits"]> {
  const out: NonNullable<ShadowDiff["limits"]> = { added: [], removed: [], changed: [] };
  const group = (ls: readonly PolicyLimit[]) => {
    const m = new Map<string, PolicyLimit[]>();
    for (const l of ls) m.set(l.key, [...(m.get(l.key) ?? []), l]);
    return m;
  };
  const a = group(active);
  const c = group(candidate);
  for (const key of [...new Set([...a.keys(), ...c.keys()])].sort()) {
    const before = a.get(key) ?? [];
    const after = c.get(key) ?? [];
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const x = before[i];
      const y = after[i];
      if (x === undefined) out.added.push(summary(y!));
      else if (y === undefined) out.removed.push(summary(x));
      else {
        const sx = summary(x);
        const sy = summary(y);
        const fields = LIMIT_FIELDS.filter((f) => sx[f] !== sy[f]);
        if (fields.length > 0) out.changed.push({ limit_key: sx.limit_key, fields, active: sx, candidate: sy });
      }
    }
  }
  return out;
}

/** Compares the candidate's decision with the active one's for the same request; undefined when they agree. Pure. */
export function diffDecisions(active: Decision, candidate: Decision): ShadowDiff | undefined {
  const found = new Set<ShadowDiffKind>();
  const diff: ShadowDiff = {
    kinds: [],
    allowed: { active: active.allowed, candidate: candidate.allowed },
    status: { active: status(active), candidate: status(candidate) },
  };
  if (active.allowed !== candidate.allowed) {
    found.add(active.allowed ? "allow_to_deny" : "deny_to_allow");
  } else {
    const headers = diffHeaders(active, candidate);
    if (headers.added.length > 0) found.add("headers_added");
    if (headers.removed.length > 0) found.add("headers_removed");
    if (headers.changed.length > 0) found.add("headers_changed");
    if (found.size > 0) diff.headers = headers;
    if (!active.allowed) {
      if (active.httpStatus !== candidate.httpStatus) found.add("status_changed");
      // message is rendered into the body when body is absent, so either one changes what the client reads.
      if (active.body !== candidate.body || active.message !== candidate.message) {
        found.add("body_changed");
        diff.body = { active_bytes: denialTextBytes(active), candidate_bytes: denialTextBytes(candidate) };
      }
    } else {
      const limits = diffLimits(active.limits, candidate.limits);
      if (limits.added.length + limits.removed.length + limits.changed.length > 0) {
        found.add("limits_changed");
        diff.limits = limits;
      }
    }
  }
  if (found.size === 0) return undefined;
  diff.kinds = SHADOW_DIFF_KINDS.filter((k) => found.has(k));
  return diff;
}

export interface ShadowStatsSnapshot {
  compared: number;
  agreed: number;
  disagreed: number;
  /** Candidate evaluations that failed (counted apart from disagreements). */
  errors: number;
  /** Disagreements by kind; one comparison can count under several kinds. */
  kinds: Record<ShadowDiffKind, number>;
}

const zeroKinds = (): Record<ShadowDiffKind, number> => Object.fromEntries(SHADOW_DIFF_KINDS.map((k) => [k, 0])) as Record<ShadowDiffKind, number>;

/** Running counts of shadow comparisons. onKind lets the caller feed a metric (e.g. tollgate_shadow_disagreements_total{kind}). */
export class ShadowStats {
  private compared = 0;
  private disagreed = 0;
  private errors = 0;
  private kinds = zeroKinds();

  constructor(private readonly opts: { onKind?: (kind: ShadowDiffKind) => void } = {}) {}

  record(diff: ShadowDiff | undefined): void {
    this.compared++;
    if (diff === undefined) return;
    this.disagreed++;
    for (const k of diff.kinds) {
      this.kinds[k]++;
      this.opts.onKind?.(k);
    }
  }

  recordError(): void {
    this.errors++;
  }

  snapshot(): ShadowStatsSnapshot {
    return { compared: this.compared, agreed: this.compared - this.disagreed, disagreed: this.disagreed, errors: this.errors, kinds: { ...this.kinds } };
  }

  reset(): void {
    this.compared = 0;
    this.disagreed = 0;
    this.errors = 0;
    this.kinds = zeroKinds();
  }
}
