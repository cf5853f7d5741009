import { timingSafeEqual } from "node:crypto";

/** Constant-time comparison, false (not an error) for different lengths, as Go's hmac.Equal. */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
