import { TollgateError } from "../errors.js";
import type { RateLimitDescriptor } from "../gen/envoy/extensions/common/ratelimit/v3/ratelimit.js";
import type { RateLimitRequest } from "../gen/envoy/service/ratelimit/v3/rls.js";
import type { UInt64Value } from "../gen/google/protobuf/wrappers.js";

/**
 * A descriptor with Envoy's per-descriptor hits_addend (field 3, a UInt64Value). The protos src/gen
 * was built from predate that field; handler.ts decodes it from the wire into this shape.
 */
export type DescriptorWithAddend = RateLimitDescriptor & { hitsAddend?: UInt64Value | undefined };

export interface RateLimitRequestWithAddends extends Omit<RateLimitRequest, "descriptors"> {
  descriptors: DescriptorWithAddend[];
}

export interface RequestBounds {
  maxDescriptors: number;
  maxEntriesPerDescriptor: number;
  maxDomainBytes: number;
  maxKeyBytes: number;
  maxValueBytes: number;
}

export const DEFAULT_REQUEST_BOUNDS: Readonly<RequestBounds> = {
  maxDescriptors: 64,
  maxEntriesPerDescriptor: 32,
  maxDomainBytes: 512,
  maxKeyBytes: 512,
  maxValueBytes: 4096,
};

const MAX_UINT32 = 4_294_967_295;

function bad(message: string): TollgateError {
  return new TollgateError("request_parse_error", message);
}

function isUint32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_UINT32;
}

/**
 * The UTF-8 size of a string when it is over maxBytes, else -1. A UTF-16 unit encodes to at most
 * 3 bytes, so strings short enough cannot be over and are not counted (the common case, per call).
 */
function oversize(value: string, maxBytes: number): number {
  if (value.length * 3 <= maxBytes) return -1;
  const size = Buffer.byteLength(value, "utf8");
  return size > maxBytes ? size : -1;
}

/** Why a text field fails its bounds, or undefined when it does not. */
function textProblem(value: unknown, maxBytes: number): string | undefined {
  if (typeof value !== "string") return "must be a string";
  const size = oversize(value, maxBytes);
  return size < 0 ? undefined : `is ${size} bytes, more than the limit of ${maxBytes}`;
}

/**
 * Rejects what ratelimit rejects (empty domain, no descriptors) and what Envoy never sends or
 * that would cost unbounded work: too many descriptors or entries, empty or oversized keys and values.
 * Throws TollgateError("request_parse_error"), which maps to INVALID_ARGUMENT.
 * Runs on every call, so messages (and the field paths in them) are built only for a failure.
 */
export function checkRequest(req: RateLimitRequestWithAddends, bounds: RequestBounds): void {
  if (typeof req !== "object" || req === null) throw bad("rate limit request must be an object");
  const domainProblem = textProblem(req.domain, bounds.maxDomainBytes);
  if (domainProblem !== undefined) throw bad(`domain ${domainProblem}`);
  if (req.domain === "") throw bad("rate limit domain must not be empty");
  if (!Array.isArray(req.descriptors) || req.descriptors.length === 0) throw bad("rate limit descriptor list must not be empty");
  if (req.descriptors.length > bounds.maxDescriptors) {
    throw bad(`${req.descriptors.length} descriptors, more than the limit of ${bounds.maxDescriptors}`);
  }
  if (req.hitsAddend !== undefined && !isUint32(req.hitsAddend)) throw bad("hits_addend must be an integer from 0 to 4294967295");
  for (let i = 0; i < req.descriptors.length; i++) checkDescriptor(req.descriptors[i]!, i, bounds);
}

function checkDescriptor(d: DescriptorWithAddend, i: number, bounds: RequestBounds): void {
  if (typeof d !== "object" || d === null) throw bad(`descriptors[${i}] must be an object`);
  if (!Array.isArray(d.entries) || d.entries.length === 0) throw bad(`descriptors[${i}] has no entries`);
  if (d.entries.length > bounds.maxEntriesPerDescriptor) {
    throw bad(`descriptors[${i}] has ${d.entries.length} entries, more than the limit of ${bounds.maxEntriesPerDescriptor}`);
  }
  for (let j = 0; j < d.entries.length; j++) {
    const e = d.entries[j];
    if (typeof e !== "object" || e === null) throw bad(`descriptors[${i}].entries[${j}] must be an object`);
    const keyProblem = textProblem(e.key, bounds.maxKeyBytes);
    if (keyProblem !== undefined) throw bad(`descriptors[${i}].entries[${j}].key ${keyProblem}`);
    if (e.key === "") throw bad(`descriptors[${i}].entries[${j}].key must not be empty`);
    const valueProblem = textProblem(e.value, bounds.maxValueBytes);
    if (valueProblem !== undefined) throw bad(`descriptors[${i}].entries[${j}].value ${valueProblem}`);
  }
  if (d.limit !== undefined && d.limit !== null && !isUint32(d.limit.requestsPerUnit)) {
    throw bad(`descriptors[${i}].limit.requests_per_unit must be an integer from 0 to 4294967295`);
  }
  if (d.hitsAddend !== undefined && d.hitsAddend !== null && !isUint32(d.hitsAddend.value)) {
    throw bad(`descriptors[${i}].hits_addend must be an integer from 0 to 4294967295`);
  }
}

/**
 * Hits per descriptor, as ratelimit's GetHitsAddends: a descriptor's own hits_addend wins (0 only
 * checks the counter); otherwise the request's, where 0 (unset) means 1.
 */
export function hitsAddends(req: RateLimitRequestWithAddends): number[] {
  const fallback = Math.max(1, req.hitsAddend ?? 0);
  return req.descriptors.map((d) => (d.hitsAddend ? d.hitsAddend.value : fallback));
}
