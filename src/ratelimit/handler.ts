import { WireType } from "@bufbuild/protobuf/wire";
import { TollgateError } from "../errors.js";
import { RateLimitRequest, RateLimitServiceService } from "../gen/envoy/service/ratelimit/v3/rls.js";
import type { RateLimitRequestWithAddends } from "./request.js";
import supplement from "../gen/envoy-supplement.json" with { type: "json" };

/**
 * Field numbers for RateLimitRequest.descriptors, RateLimitDescriptor.hits_addend and
 * UInt64Value.value. hits_addend is newer than the protos src/gen was built from, so the numbers
 * come from the generated supplement read out of go-control-plane (scripts/envoy-supplement).
 */
const REQUEST_DESCRIPTORS = supplement.rateLimitRequestDescriptors;
const DESCRIPTOR_HITS_ADDEND = supplement.rateLimitDescriptorHitsAddend;
const UINT64_VALUE = supplement.uint64ValueValue;

/**
 * A cursor over protobuf wire bytes that reads tags and varints in place. The generated decoder has
 * already accepted the message, so this only has to find fields, not to validate; it allocates
 * nothing per field (the hot path reads every ShouldRateLimit call twice).
 */
class WireScan {
  pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** An unsigned varint of up to 64 bits; beyond 2^53 the value is rounded (still far above uint32). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10 && this.pos < this.end; i++) {
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new TollgateError("request_parse_error", "malformed varint in rate limit request");
  }

  /** Skips the value of a field of this wire type; for a group, up to its end tag. */
  skip(wireType: number, field: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.Bit64:
        this.pos += 8;
        return;
      case WireType.Bit32:
        this.pos += 4;
        return;
      case WireType.LengthDelimited: {
        const length = this.varint();
        this.pos += length;
        return;
      }
      case WireType.StartGroup:
        for (;;) {
          if (this.pos >= this.end) throw new TollgateError("request_parse_error", "unterminated group in rate limit request");
          const tag = this.varint();
          if ((tag & 7) === WireType.EndGroup) {
            if (tag >>> 3 !== field) throw new TollgateError("request_parse_error", "mismatched group in rate limit request");
            return;
          }
          this.skip(tag & 7, tag >>> 3);
        }
      default:
        throw new TollgateError("request_parse_error", `unexpected wire type ${wireType} in rate limit request`);
    }
  }
}

/**
 * Per descriptor, its hits_addend when the field is present (an empty UInt64Value is 0); undefined
 * when no descriptor has one (Envoy's usual request), so that case allocates nothing.
 */
function readDescriptorAddends(bytes: Uint8Array): (number | undefined)[] | undefined {
  let out: (number | undefined)[] | undefined;
  let index = 0;
  const top = new WireScan(bytes, 0, bytes.length);
  while (top.pos < top.end) {
    const tag = top.varint();
    if (tag >>> 3 === REQUEST_DESCRIPTORS && (tag & 7) === WireType.LengthDelimited) {
      const length = top.varint();
      const addend = readAddend(bytes, top.pos, top.pos + length);
      if (addend !== undefined) (out ??= [])[index] = addend;
      index++;
      top.pos += length;
    } else {
      top.skip(tag & 7, tag >>> 3);
    }
  }
  return out;
}

function readAddend(bytes: Uint8Array, start: number, end: number): number | undefined {
  let addend: number | undefined;
  const d = new WireScan(bytes, start, end);
  while (d.pos < d.end) {
    const tag = d.varint();
    if (tag >>> 3 === DESCRIPTOR_HITS_ADDEND && (tag & 7) === WireType.LengthDelimited) {
      addend = 0;
      const length = d.varint();
      const inner = new WireScan(bytes, d.pos, d.pos + length);
      while (inner.pos < inner.end) {
        const t = inner.varint();
        // Too large values stay too large (imprecise but > uint32), so checkRequest rejects them.
        if (t >>> 3 === UINT64_VALUE && (t & 7) === WireType.Varint) addend = inner.varint();
        else inner.skip(t & 7, t >>> 3);
      }
      d.pos += length;
    } else {
      d.skip(tag & 7, tag >>> 3);
    }
  }
  return addend;
}

/** Decodes a RateLimitRequest including each descriptor's hits_addend, which the generated decoder drops. */
export function decodeRateLimitRequest(bytes: Uint8Array): RateLimitRequestWithAddends {
  const req: RateLimitRequestWithAddends = RateLimitRequest.decode(bytes);
  const addends = readDescriptorAddends(bytes);
  if (addends) {
    for (let i = 0; i < addends.length; i++) {
      const d = req.descriptors[i];
      const value = addends[i];
      if (d && value !== undefined) d.hitsAddend = { value };
    }
  }
  return req;
}

/** RateLimitServiceService with a request decoder that keeps per-descriptor hits_addend; use it with addService. */
export const rateLimitServiceDefinition: typeof RateLimitServiceService = {
  shouldRateLimit: {
    ...RateLimitServiceService.shouldRateLimit,
    requestDeserialize: (value: Buffer): RateLimitRequest => decodeRateLimitRequest(value),
  },
};
