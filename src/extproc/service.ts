import { status, type handleBidiStreamingCall, type ServerDuplexStream } from "@grpc/grpc-js";
import { TollgateError } from "../errors.js";
import type { ProcessingRequest, ProcessingResponse } from "../gen/envoy/service/ext_proc/v3/external_processor.js";
import { messageKind, passThrough } from "./messages.js";
import { StreamSession, type SessionDeps } from "./session.js";

export interface ExtProcOptions extends SessionDeps {
  /** Streams served at once; more are refused with RESOURCE_EXHAUSTED (Envoy then passes the response on, the reservation stands). */
  maxStreams: number;
}

/** Messages queued per stream before tollgate stops reading from it (HTTP/2 flow control then holds Envoy back). */
const HIGH_WATER = 64;

/**
 * envoy.service.ext_proc.v3.ExternalProcessor/Process: one StreamSession per gRPC stream. Messages
 * are answered strictly in order, one answer each, as Envoy's filter expects. close() waits for the
 * reconciles still in flight.
 */
export class ExtProcService {
  private active = 0;
  private readonly settling = new Set<Promise<void>>();

  constructor(private readonly o: ExtProcOptions) {}

  get activeStreams(): number {
    return this.active;
  }

  readonly process: handleBidiStreamingCall<ProcessingRequest, ProcessingResponse> = (call) => {
    if (this.active >= this.o.maxStreams) {
      call.emit("error", { code: status.RESOURCE_EXHAUSTED, details: `overloaded: ${this.o.maxStreams} ext_proc streams open` });
      return;
    }
    this.active += 1;
    this.serve(call);
  };

  private serve(call: ServerDuplexStream<ProcessingRequest, ProcessingResponse>): void {
    const session = new StreamSession(this.o);
    const queue: ProcessingRequest[] = [];
    let busy = false;
    let ended = false;
    let closed = false;

    const close = (): void => {
      if (closed) return;
      closed = true;
      const done = session.finish().finally(() => this.settling.delete(done));
      this.settling.add(done);
      this.active -= 1;
      if (!call.cancelled) call.end();
    };
    const reply = (res: ProcessingResponse): void => {
      if (!call.cancelled && !closed) call.write(res);
    };
    const pump = async (): Promise<void> => {
      busy = true;
      while (queue.length > 0) {
        const req = queue.shift()!;
        try {
          const res = session.handle(req);
          reply(res instanceof Promise ? await res : res);
        } catch (err) {
          // A bug must not stall Envoy's stream: answer unchanged and say so.
          this.o.logger.error({ event: "extproc_failed", kind: messageKind(req), error: TollgateError.from(err).message }, "ext_proc message failed; passed on unchanged");
          reply(passThrough(req));
        }
        if (queue.length < HIGH_WATER / 2) call.resume();
      }
      busy = false;
      if (ended) close();
    };

    call.on("data", (req: ProcessingRequest) => {
      queue.push(req);
      if (queue.length >= HIGH_WATER) call.pause();
      if (!busy) void pump();
    });
    const end = (): void => {
      ended = true;
      if (!busy) close();
    };
    call.on("end", end);
    call.on("cancelled", end);
    call.on("error", end);
  }

  /** Waits for reconciles in flight (each bounded by the store's deadline). */
  async close(): Promise<void> {
    while (this.settling.size > 0) await Promise.allSettled([...this.settling]);
  }
}
