import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { AuthorizationService, CheckRequest, CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { RateLimitRequest, RateLimitResponse } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { rateLimitServiceDefinition } from "../../src/ratelimit/handler.js";
import { GrpcServer } from "../../src/server/grpc-server.js";

const CHECK = "/envoy.service.auth.v3.Authorization/Check";
const RLS = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
const MAX = 16 * 1024;

/** Which path answered each handler call: true when the fast path called it (its frame is on the stack). */
const viaFastPath: boolean[] = [];
const FAST_PATH_FRAME = /src[\\/]server[\\/]unary-fast-path\.ts:/;

/** Check's behaviour is picked by the request's HTTP path, so one handler serves every case. */
async function check(req: CheckRequest): Promise<CheckResponse> {
  viaFastPath.push(FAST_PATH_FRAME.test(new Error().stack ?? ""));
  const path = req.attributes?.request?.http?.path ?? "";
  if (path === "/slow") await new Promise((r) => setTimeout(r, 300));
  if (path === "/fail") throw new TollgateError("policy_eval_error", "the policy said no; 100% sure");
  if (path === "/unencodable") return { status: { code: "not a number" } } as unknown as CheckResponse;
  const body = path === "/big" ? "x".repeat(MAX * 2) : path;
  return CheckResponse.fromJSON({ status: { code: 0 }, deniedResponse: path === "/ok" ? undefined : { body } });
}

async function shouldRateLimit(req: RateLimitRequest): Promise<RateLimitResponse> {
  viaFastPath.push(FAST_PATH_FRAME.test(new Error().stack ?? ""));
  return RateLimitResponse.fromJSON({ overallCode: req.domain === "over" ? "OVER_LIMIT" : "OK" });
}

/** The oracle: plain grpc-js with the same handlers, codecs, limits and error mapping as GrpcServer. */
async function startPlainGrpc(): Promise<{ port: number; close: () => void }> {
  const server = new Server({ "grpc.max_receive_message_length": MAX, "grpc.max_send_message_length": MAX });
  const unary = <Req, Res>(fn: (r: Req) => Promise<Res>) => (call: { request: Req }, cb: (err: Partial<ServiceError> | null, res?: Res) => void) => {
    fn(call.request).then(
      (res) => cb(null, res),
      (err: unknown) => {
        const e = TollgateError.from(err);
        cb({ code: e.grpcStatus, details: `${e.code}: ${e.message}` });
      },
    );
  };
  server.addService(AuthorizationService, { check: unary(check) });
  server.addService(rateLimitServiceDefinition, { shouldRateLimit: unary(shouldRateLimit) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, close: () => server.forceShutdown() };
}

interface RawAnswer {
  status: string | undefined;
  message: string | undefined;
  body: Buffer;
}

/** One HTTP/2 request with exactly these frames, as a gRPC client (or a broken one) would send them. */
function raw(port: number, o: { path: string; body: Buffer[]; headers?: Record<string, string>; cancelAfterMs?: number }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": o.path, "content-type": "application/grpc", te: "trailers", ...o.headers });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message: string | undefined;
    const read = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) message = decodeURI(String(h["grpc-message"]));
    };
    req.on("response", read);
    req.on("trailers", read);
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => undefined);
    req.on("close", () => {
      session.close();
      resolve({ status, message, body: Buffer.concat(chunks) });
    });
    for (const b of o.body) req.write(b);
    if (o.cancelAfterMs !== undefined) setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), o.cancelAfterMs);
    else req.end();
  });
}

/** A gRPC length-prefixed message. */
function frame(bytes: Uint8Array, declared = bytes.length): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(declared, 1);
  out.set(bytes, 5);
  return out;
}

const checkBytes = (path: string) => CheckRequest.encode(CheckRequest.fromJSON({ attributes: { request: { http: { path } } } })).finish();

describe("the unary fast path answers Check and ShouldRateLimit as grpc-js does", () => {
  let fast: GrpcServer;
  let plain: { port: number; close: () => void };
  beforeAll(async () => {
    fast = new GrpcServer({ addr: "127.0.0.1:0", maxMessageBytes: MAX, logger: pino({ level: "silent" }), check, shouldRateLimit });
    await fast.start();
    plain = await startPlainGrpc();
  });
  afterAll(async () => {
    await fast.drain(100);
    plain.close();
  });

  const cases: { name: string; path: string; body: () => Buffer[]; headers?: Record<string, string>; status: string }[] = [
    { name: "a response the encoder rejects", path: CHECK, body: () => [frame(checkBytes("/unencodable"))], status: "13" },
    { name: "an allowed Check (right after the rejected encoding, whose partial bytes are gone)", path: CHECK, body: () => [frame(checkBytes("/ok"))], status: "0" },
    { name: "a Check answered in two DATA frames", path: CHECK, body: () => { const f = frame(checkBytes("/split")); return [f.subarray(0, 3), f.subarray(3)]; }, status: "0" },
    { name: "a ShouldRateLimit", path: RLS, body: () => [frame(RateLimitRequest.encode(RateLimitRequest.fromJSON({ domain: "over" })).finish())], status: "0" },
    { name: "a handler error (its code, and its message percent-encoded)", path: CHECK, body: () => [frame(checkBytes("/fail"))], status: "13" },
    { name: "no request message", path: CHECK, body: () => [], status: "12" },
    { name: "a message cut short", path: CHECK, body: () => [frame(checkBytes("/ok")).subarray(0, 8)], status: "12" },
    { name: "a second request message", path: CHECK, body: () => [frame(checkBytes("/ok")), frame(checkBytes("/ok"))], status: "12" },
    { name: "a declared length over the receive limit", path: CHECK, body: () => [frame(new Uint8Array(10), MAX + 1)], status: "8" },
    { name: "bytes that are not a CheckRequest", path: CHECK, body: () => [frame(Uint8Array.from([0x0a, 0xff, 0xff]))], status: "13" },
    { name: "a response over the send limit", path: CHECK, body: () => [frame(checkBytes("/big"))], status: "8" },
    { name: "a deadline that passes while the handler works", path: CHECK, body: () => [frame(checkBytes("/slow"))], headers: { "grpc-timeout": "50m" }, status: "4" },
    { name: "a compressed message flagged without grpc-encoding (read as it is)", path: CHECK, body: () => { const f = frame(checkBytes("/flag")); f[0] = 1; return [f]; }, status: "0" },
    { name: "a gzip-compressed message (left to grpc-js)", path: CHECK, body: () => { const f = frame(gzipSync(checkBytes("/gz"))); f[0] = 1; return [f]; }, headers: { "grpc-encoding": "gzip" }, status: "0" },
    { name: "a malformed grpc-timeout (left to grpc-js)", path: CHECK, body: () => [frame(checkBytes("/ok"))], headers: { "grpc-timeout": "soon" }, status: "13" },
    { name: "another content type (left to grpc-js)", path: CHECK, body: () => [frame(checkBytes("/ok"))], headers: { "content-type": "text/plain" }, status: "undefined" },
    { name: "an unknown method (left to grpc-js)", path: "/envoy.service.auth.v3.Authorization/Nope", body: () => [frame(checkBytes("/ok"))], status: "12" },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const call = { path: c.path, body: c.body(), ...(c.headers ? { headers: c.headers } : {}) };
      const got = await raw(fast.port, call);
      const want = await raw(plain.port, { ...call, body: c.body() });
      expect(String(got.status)).toBe(c.status);
      expect(got).toEqual(want);
    });
  }

  it("is installed, and the calls above that grpc-js accepts reached the handler through it", () => {
    expect(fast.fastPathServers).toBe(1);
    expect(viaFastPath).toContain(true);
  });

  it("left the gzip-compressed call to grpc-js: the handler was not called through the fast path", async () => {
    viaFastPath.length = 0;
    const f = frame(gzipSync(checkBytes("/gz")));
    f[0] = 1;
    expect((await raw(fast.port, { path: CHECK, body: [f], headers: { "grpc-encoding": "gzip" } })).status).toBe("0");
    expect(viaFastPath).toEqual([false]);
  });

  it("answers a plain grpc-js client's Check through the fast path", async () => {
    const Client = makeGenericClientConstructor(AuthorizationService, "Authorization");
    const client = new Client(`127.0.0.1:${fast.port}`, credentials.createInsecure());
    viaFastPath.length = 0;
    const res = await new Promise<CheckResponse>((resolve, reject) =>
      client["check"]!(CheckRequest.fromJSON({ attributes: { request: { http: { path: "/ok" } } } }), { deadline: Date.now() + 5000 }, (err: Error | null, r: CheckResponse) => (err ? reject(err) : resolve(r))),
    );
    client.close();
    expect(res.status?.code).toBe(0);
    expect(viaFastPath).toEqual([true]);
  });

  it("survives a client that cancels while the handler works, and answers the next call", async () => {
    const cancelled = await raw(fast.port, { path: CHECK, body: [frame(checkBytes("/slow"))], cancelAfterMs: 30 });
    expect(cancelled.status).toBeUndefined();
    await new Promise((r) => setTimeout(r, 350)); // the handler finishes after the stream is gone
    const next = await raw(fast.port, { path: CHECK, body: [frame(checkBytes("/ok"))] });
    expect(next.status).toBe("0");
  });
});
