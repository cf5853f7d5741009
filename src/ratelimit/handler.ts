import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
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

/** Per descriptor, its hits_addend when the field is present (an empty UInt64Value is 0). */
function readDescriptorAddends(bytes: Uint8Array): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === REQUEST_DESCRIPTORS && wireType === WireType.LengthDelimited) out.push(readAddend(reader.bytes()));
    else reader.skip(wireType, field);
  }
  return out;
}

function readAddend(descriptor: Uint8Array): number | undefined {
  let addend: number | undefined;
  const reader = new BinaryReader(descriptor);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === DESCRIPTOR_HITS_ADDEND && wireType === WireType.LengthDelimited) {
      addend = 0;
      const inner = new BinaryReader(reader.bytes());
      while (inner.pos < inner.len) {
        const [f, w] = inner.tag();
        // Too large values stay too large (imprecise but > uint32), so checkRequest rejects them.
        if (f === UINT64_VALUE && w === WireType.Varint) addend = Number(inner.uint64());
        else inner.skip(w, f);
      }
    } else {
      reader.skip(wireType, field);
    }
  }
  return addend;
}

/** Decodes a RateLimitRequest including each descriptor's hits_addend, which the generated decoder drops. */
export function decodeRateLimitRequest(bytes: Uint8Array): RateLimitRequestWithAddends {
  const req: RateLimitRequestWithAddends = RateLimitRequest.decode(bytes);
  readDescriptorAddends(bytes).forEach((value, i) => {
    const d = req.descriptors[i];
    if (d && value !== undefined) d.hitsAddend = { value };
  });
  return req;
}

/** RateLimitServiceService with a request decoder that keeps per-descriptor hits_addend; use it with addService. */
export const rateLimitServiceDefinition: typeof RateLimitServiceService = {
  shouldRateLimit: {
    ...RateLimitServiceService.shouldRateLimit,
    requestDeserialize: (value: Buffer): RateLimitRequest => decodeRateLimitRequest(value),
  },
};
