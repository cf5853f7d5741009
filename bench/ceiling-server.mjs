// The ceiling: a grpc-js Check server with tollgate's own codec (the ts-proto code compiled into
// dist/gen) and server options, answering every Check "allowed" without looking at it.
//   node bench/ceiling-server.mjs <host:port>
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";

const compiled = fileURLToPath(new URL("../dist/gen/envoy/service/auth/v3/external_auth.js", import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write("ceiling-server: run `npm run build` first\n");
  process.exit(2);
}
const { AuthorizationService } = await import(compiled);
const addr = process.argv[2] ?? "127.0.0.1:9292";
const MAX = 4 * 1024 * 1024;
const server = new grpc.Server({
  "grpc.max_receive_message_length": MAX,
  "grpc.max_send_message_length": MAX,
  "grpc.keepalive_permit_without_calls": 1,
});
const allowed = { status: { code: 0, message: "", details: [] }, okResponse: { headers: [], headersToRemove: [], responseHeadersToAdd: [], queryParametersToSet: [], queryParametersToRemove: [] } };
server.addService(AuthorizationService, { check: (_call, callback) => callback(null, allowed) });
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`ceiling-server: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`ceiling listening on ${port}\n`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
