// Command envoy-supplement prints, as JSON, the numbers of the Envoy API fields and enum values
// that tollgate needs but that the protos shipped in @grpc/grpc-js-xds predate (per-descriptor
// hits_addend, the WEEK unit). The numbers are read from Envoy's own generated API in
// go-control-plane, never typed by hand. scripts/gen-proto.mjs writes the output to
// src/gen/envoy-supplement.json.
package main

import (
	"encoding/json"
	"os"

	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func main() {
	request := (&rlsv3.RateLimitRequest{}).ProtoReflect().Descriptor()
	descriptor := (&ratelimitv3.RateLimitDescriptor{}).ProtoReflect().Descriptor()
	uint64Value := (&wrapperspb.UInt64Value{}).ProtoReflect().Descriptor()
	units := map[string]int{}
	values := rlsv3.RateLimitResponse_RateLimit_Unit(0).Descriptor().Values()
	for i := 0; i < values.Len(); i++ {
		units[string(values.Get(i).Name())] = int(values.Get(i).Number())
	}
	out := map[string]any{
		"source":                        "github.com/envoyproxy/go-control-plane/envoy",
		"rateLimitRequestDescriptors":   int(request.Fields().ByName("descriptors").Number()),
		"rateLimitDescriptorHitsAddend": int(descriptor.Fields().ByName("hits_addend").Number()),
		"uint64ValueValue":              int(uint64Value.Fields().ByName("value").Number()),
		"rateLimitResponseUnits":        units,
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
