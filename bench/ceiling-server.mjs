// The ceiling: tollgate's own gRPC server (src/server/grpc-server.ts: grpc-js with the unary fast
// path, the same codec and server options) answering every Check "allowed" without looking at it.
//   node bench/ceiling-server.mjs <host:port>
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pino from "pino";

const compiled = fileURLToPath(new URL("../dist/server/grpc-server.js", import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write("ceiling-server: run `npm run build` first\n");
  process.exit(2);
}
const { GrpcServer } = await import(compiled);
const addr = process.argv[2] ?? "127.0.0.1:9292";
const allowed = { status: { code: 0, message: "", details: [] }, okResponse: { headers: [], headersToRemove: [], responseHeadersToAdd: [], queryParametersToSet: [], queryParametersToRemove: [] } };
const server = new GrpcServer({ addr, maxMessageBytes: 4 * 1024 * 1024, logger: pino({ level: "warn" }), check: () => Promise.resolve(allowed) });
try {
  const port = await server.start();
  if (server.fastPathServers === 0) throw new Error("the fast path is not installed");
  process.stdout.write(`ceiling listening on ${port}\n`);
} catch (err) {
  process.stderr.write(`ceiling-server: ${err.message}\n`);
  process.exit(1);
}
const stop = () => server.drain(1000).then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
