// The ext_proc floor: a grpc-js ExternalProcessor with tollgate's own codec (the ts-proto code
// compiled into dist/gen) and server options, answering every message "pass unchanged" in order
// without looking at it.
//   node bench/extproc-noop-server.mjs <host:port>
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";

const compiled = fileURLToPath(new URL("../dist/gen/envoy/service/ext_proc/v3/external_processor.js", import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write("extproc-noop-server: run `npm run build` first\n");
  process.exit(2);
}
const { ExternalProcessorService } = await import(compiled);
const addr = process.argv[2] ?? "127.0.0.1:9293";
const MAX = 4 * 1024 * 1024;
const server = new grpc.Server({
  "grpc.max_receive_message_length": MAX,
  "grpc.max_send_message_length": MAX,
  "grpc.keepalive_permit_without_calls": 1,
});
const answer = (part) => ({ ...part, dynamicMetadata: undefined, modeOverride: undefined, overrideMessageTimeout: undefined });
const HEADERS = answer({ responseHeaders: { response: undefined } });
const BODY = answer({ responseBody: { response: undefined } });
const TRAILERS = answer({ responseTrailers: { headerMutation: undefined } });
server.addService(ExternalProcessorService, {
  process: (call) => {
    call.on("data", (req) => call.write(req.responseHeaders ? HEADERS : req.responseBody ? BODY : TRAILERS));
    call.on("end", () => call.end());
    call.on("error", () => undefined);
  },
});
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`extproc-noop-server: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`extproc noop listening on ${port}\n`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
