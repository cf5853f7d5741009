import { readFileSync } from "node:fs";
import path from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { packageRoot } from "../paths.js";

/** The descriptor sets buf builds (npm run gen:proto): Envoy's services, then gRPC's health and reflection. */
const DESCRIPTOR_SETS = ["descriptors.binpb", "grpc-descriptors.binpb"];

/**
 * Every FileDescriptorProto exactly as protoc/buf encoded it. Descriptors rebuilt by proto-loader
 * from protobufjs are not valid FileDescriptorProtos (relative type names, map entries named the
 * protobufjs way), which grpcurl, ghz and other reflection clients reject.
 */
export function servedFileDescriptors(): Buffer[] {
  return DESCRIPTOR_SETS.flatMap((name) =>
    fromBinary(FileDescriptorSetSchema, readFileSync(path.join(packageRoot, "src", "gen", name))).file.map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f))),
  );
}

/** Serves gRPC reflection (v1 and v1alpha) for every service in the descriptor sets, so clients need no .proto files. */
export function addReflection(server: Server): void {
  // @grpc/reflection reads only the fileDescriptorProtos of a package definition's entries, so one
  // entry carrying all the files is a complete input even though it is not a full message definition.
  const definition = { descriptors: { fileDescriptorProtos: servedFileDescriptors() } } as unknown as PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}
