import type { Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { status as GrpcStatus, type Server } from "@grpc/grpc-js";

/** One unary method answered on the fast path: its wire codec and its handler. */
export interface FastUnaryMethod<Req = unknown, Res = unknown> {
  /** The HTTP/2 :path, e.g. "/envoy.service.auth.v3.Authorization/Check". */
  path: string;
  decode: (bytes: Buffer) => Req;
  /** The generated encoder (ts-proto's `Message.encode(value, writer)`), so the frame is built in one buffer. */
  encode: (value: Res, writer: BinaryWriter) => BinaryWriter;
  handle: (req: Req) => Promise<Res>;
  /** A handler's rejection as a gRPC status (the same mapping the grpc-js path uses). */
  toStatus: (err: unknown) => { code: GrpcStatus; details: string };
}

export interface FastPathLimits {
  maxReceiveBytes: number;
  maxSendBytes: number;
}

const TIMEOUT_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
const TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const PREFIX = 5;
const EMPTY_PREFIX = new Uint8Array(PREFIX);
/** Encoding is synchronous, so one writer serves every call; its buffer stays grown to the largest answer. */
const writer = new BinaryWriter();

/** The response as one gRPC frame: prefix and message written together, copied out once. */
function frameOf(method: FastUnaryMethod, response: unknown): Buffer {
  writer.raw(EMPTY_PREFIX);
  try {
    method.encode(response, writer);
  } catch (err) {
    writer.finish(); // resets it for the next call
    throw err;
  }
  const bytes = writer.finish();
  const out = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  out.writeUInt32BE(bytes.length - PREFIX, 1);
  return out;
}

// grpc-encoding and grpc-accept-encoding are optional; a compressed call is grpc-js's to answer anyway.
const OK_HEADERS = { ":status": 200, "content-type": "application/grpc+proto" };
const OK_TRAILERS = { "grpc-status": "0", "grpc-message": "OK" };

/**
 * Whether a call is one the fast path answers exactly as grpc-js would. Anything unusual (another
 * content type, a compressed request, a malformed timeout) goes to grpc-js, which owns those answers.
 */
function plainCall(headers: IncomingHttpHeaders): boolean {
  const contentType = headers["content-type"];
  if (typeof contentType !== "string" || !contentType.startsWith("application/grpc")) return false;
  const encoding = headers["grpc-encoding"];
  if (encoding !== undefined && encoding !== "identity") return false;
  const timeout = headers["grpc-timeout"];
  return timeout === undefined || (typeof timeout === "string" && TIMEOUT.test(timeout));
}

/**
 * Answers one unary call straight on its HTTP/2 stream: read one length-prefixed message, decode,
 * handle, encode, then HEADERS, DATA and trailers, as grpc-js's unary path does, with its status
 * codes and messages for a missing, second, oversized or undecodable message and a passed deadline.
 * Per call it skips grpc-js's metadata object, call and interceptor layers and their promises,
 * which cost about as much CPU as the whole answer of a ShouldRateLimit call (BENCHMARKS.md).
 */
function serve(method: FastUnaryMethod, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, limits: FastPathLimits): void {
  let done = false;
  let deadline: NodeJS.Timeout | undefined;
  const chunks: Buffer[] = [];
  let received = 0;
  let declared = -1;

  const fail = (code: GrpcStatus, details: string): void => {
    if (!finish()) return;
    try {
      stream.respond({ ...OK_HEADERS, "grpc-status": String(code), "grpc-message": encodeURI(details) }, { endStream: true });
    } catch {
      // The client went away between the check and the write; there is no one left to answer.
    }
  };
  const finish = (): boolean => {
    if (done) return false;
    done = true;
    if (deadline) clearTimeout(deadline);
    return !stream.destroyed && !stream.closed;
  };

  // grpc-js attaches the same no-op: every stream error is followed by a close, handled below.
  stream.once("error", () => undefined);
  stream.once("close", finish);
  const timeout = headers["grpc-timeout"];
  if (typeof timeout === "string") {
    const [, amount, unit] = TIMEOUT.exec(timeout)!;
    deadline = setTimeout(() => fail(GrpcStatus.DEADLINE_EXCEEDED, "Deadline exceeded"), Number(amount) * TIMEOUT_UNITS_MS[unit!]!);
  }

  stream.on("data", (chunk: Buffer) => {
    if (done) return;
    chunks.push(chunk);
    received += chunk.length;
    if (declared < 0 && received >= PREFIX) {
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      declared = head.readUInt32BE(1);
      if (declared > limits.maxReceiveBytes) {
        fail(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${declared} vs ${limits.maxReceiveBytes})`);
        return;
      }
    }
    if (declared >= 0 && received > PREFIX + declared) {
      fail(GrpcStatus.UNIMPLEMENTED, `Received a second request message for server streaming method ${method.path}`);
    }
  });
  stream.on("end", () => {
    if (done) return;
    if (declared < 0 || received < PREFIX + declared) {
      fail(GrpcStatus.UNIMPLEMENTED, `Received no request message for server streaming method ${method.path}`);
      return;
    }
    // The compressed flag is not checked: with identity encoding grpc-js reads such a message as it is, and so does this.
    const frame = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    let request: unknown;
    try {
      request = method.decode(frame.subarray(PREFIX));
    } catch {
      fail(GrpcStatus.INTERNAL, "Error deserializing request");
      return;
    }
    method.handle(request).then(
      (response) => reply(response),
      (err: unknown) => {
        const s = method.toStatus(err);
        fail(s.code, s.details);
      },
    );
  });

  const reply = (response: unknown): void => {
    let out: Buffer;
    try {
      out = frameOf(method, response);
    } catch {
      fail(GrpcStatus.INTERNAL, "Error serializing response");
      return;
    }
    if (out.length - PREFIX > limits.maxSendBytes) {
      fail(GrpcStatus.RESOURCE_EXHAUSTED, `Sent message larger than max (${out.length} vs. ${limits.maxSendBytes})`);
      return;
    }
    if (!finish()) return;
    try {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
      stream.end(out);
    } catch {
      // As in fail(): the stream closed under us.
    }
  };
}

/**
 * Puts the fast path in front of grpc-js on every HTTP/2 server a bound grpc-js Server listens
 * with: calls to these methods are answered by serve(), every other stream (health, reflection,
 * ext_proc, unknown methods, unusual calls) goes to grpc-js's own handler as before. grpc-js keeps
 * the listener, TLS (and its rotation, which swaps the secure context of the same server), sessions,
 * keepalive and shutdown; only its connection-idle limit, which tollgate does not set, would not see
 * these calls. Its HTTP/2 servers are not public API, so this returns how many were found: 0 (a
 * grpc-js that changed shape) leaves grpc-js answering every call, and test/server says so.
 */
export function installUnaryFastPath(server: Server, methods: readonly FastUnaryMethod[], limits: FastPathLimits): number {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return 0;
  const byPath = new Map(methods.map((m) => [m.path, m]));
  let installed = 0;
  for (const h2 of servers.keys() as Iterable<Http2Server>) {
    const grpcHandlers = h2.listeners("stream") as ((...args: unknown[]) => void)[];
    if (grpcHandlers.length !== 1) continue;
    const grpcHandler = grpcHandlers[0]!;
    h2.removeListener("stream", grpcHandler);
    h2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => {
      const method = byPath.get(headers[":path"] ?? "");
      if (method && plainCall(headers)) serve(method, stream, headers, limits);
      else grpcHandler.call(h2, stream, headers, ...rest);
    });
    installed++;
  }
  return installed;
}
