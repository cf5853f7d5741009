#!/usr/bin/env node
// Generates src/gen (ts-proto, grpc-js services) and src/gen/descriptors.binpb (for server
// reflection) from the Envoy API protos shipped in @grpc/grpc-js-xds; src/gen/grpc-descriptors.binpb
// from the health and reflection protos shipped in grpc-health-check and @grpc/reflection, under
// the file names gRPC publishes them with (grpc/health/v1/health.proto, …); plus
// src/gen/envoy-supplement.json: field and enum numbers those protos predate, read from
// go-control-plane by scripts/envoy-supplement (needs Go; pinned in its go.mod). With --out DIR it writes
// there instead, which the staleness test uses to compare against the committed output.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outArg = process.argv.indexOf("--out");
const base = outArg === -1 ? root : path.resolve(process.argv[outArg + 1]);
const deps = "node_modules/@grpc/grpc-js-xds/deps/envoy-api";
const protos = [
  `${deps}/envoy/service/auth/v3/external_auth.proto`,
  `${deps}/envoy/service/ratelimit/v3/rls.proto`,
  `${deps}/envoy/service/ext_proc/v3/external_processor.proto`,
];
const buf = path.join(root, "node_modules", ".bin", "buf");
const run = (args) => execFileSync(buf, args, { cwd: root, stdio: "inherit" });

if (outArg === -1) rmSync(path.join(root, "src", "gen"), { recursive: true, force: true });
mkdirSync(path.join(base, "src", "gen"), { recursive: true });
run(["generate", "--template", "proto/buf.gen.yaml", "--output", base, ...protos.flatMap((p) => ["--path", p])]);
run(["build", "--as-file-descriptor-set", "-o", path.join(base, "src", "gen", "descriptors.binpb"), ...protos.flatMap((p) => ["--path", p])]);

// grpc-health-check ships health.proto as health/v1/health.proto; clients know it as
// grpc/health/v1/health.proto, so the files are copied under their canonical names and built there.
const grpcProtos = {
  "grpc/health/v1/health.proto": "node_modules/grpc-health-check/proto/health/v1/health.proto",
  "grpc/reflection/v1/reflection.proto": "node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto",
  "grpc/reflection/v1alpha/reflection.proto": "node_modules/@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto",
};
const grpcDir = mkdtempSync(path.join(os.tmpdir(), "tollgate-grpc-protos-"));
try {
  for (const [name, from] of Object.entries(grpcProtos)) {
    mkdirSync(path.join(grpcDir, path.dirname(name)), { recursive: true });
    copyFileSync(path.join(root, from), path.join(grpcDir, name));
  }
  execFileSync(buf, ["build", grpcDir, "--as-file-descriptor-set", "-o", path.join(base, "src", "gen", "grpc-descriptors.binpb")], { cwd: grpcDir, stdio: "inherit" });
} finally {
  rmSync(grpcDir, { recursive: true, force: true });
}
const supplement = execFileSync("go", ["run", "."], { cwd: path.join(root, "scripts", "envoy-supplement"), encoding: "utf8" });
writeFileSync(path.join(base, "src", "gen", "envoy-supplement.json"), supplement);
