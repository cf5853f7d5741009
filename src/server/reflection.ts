import { readFileSync } from "node:fs";
import path from "node:path";
import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { packageRoot } from "../paths.js";

/** Serves gRPC reflection for every service tollgate exposes, so grpcurl and ghz need no .proto files. */
export function addReflection(server: Server): void {
  const envoy = loadFileDescriptorSetFromBuffer(readFileSync(path.join(packageRoot, "src", "gen", "descriptors.binpb")));
  const health = loadSync(healthProtoPath);
  new ReflectionService({ ...envoy, ...health }).addToServer(server);
}
