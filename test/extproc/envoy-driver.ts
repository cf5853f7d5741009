/**
 * Drives tollgate's ext_proc server exactly as Envoy's ext_proc HTTP filter does for one HTTP
 * response (envoy/envoy.yaml: request headers/body skipped, response headers SEND, response body
 * STREAMED). Envoy cannot run here, so this is a stand-in written from Envoy's filter source
 * (source/extensions/filters/http/ext_proc/ext_proc.cc, processor_state.cc, client_impl.cc):
 *
 * - The gRPC stream opens lazily, on the first message (here the response headers).
 * - Every message carries metadata_context with each forwarding namespace present in the stream's
 *   dynamic metadata (addDynamicMetadata runs for headers, each body chunk and trailers).
 * - Response headers go first; body data arriving before their answer is held and then sent as ONE
 *   chunk (sendBufferedDataInStreamedMode). After that each chunk is sent as it arrives, without
 *   waiting for earlier answers; answers are matched to chunks in order and body_mutation
 *   (body / clear_body) applies to that chunk only.
 * - Flow control (watermarks): while the headers answer is pending, Envoy holds the data that came
 *   and read-disables the upstream at once; while more than the stream's buffer limit is sent but
 *   unanswered, the upstream is read-disabled until the queue drops below half of it. So no
 *   single message is larger than what one upstream read delivers, and a slow processor slows
 *   the upstream instead of growing Envoy's memory.
 * - The per-message timer is armed when a message is sent and stopped when an answer comes. On
 *   timeout: failure_mode_allow -> stop processing, close the stream, pass queued and later data
 *   unchanged; otherwise a 504 local reply (a reset once the response has started).
 * - mode_override is honoured only with allow_mode_override and only on a headers answer.
 * - dynamic_metadata in an answer is stored only under receiving namespaces.
 * - The processor closing the stream with OK: processing is over, the rest passes unchanged. With
 *   an error status: failure_mode_allow decides, as for a timeout (500 instead of 504).
 * - When the HTTP stream ends (complete or downstream reset), onDestroy closes the gRPC stream:
 *   half-close, then reset.
 */
import { credentials, type ClientDuplexStream } from "@grpc/grpc-js";
import { ProcessingMode_BodySendMode, ProcessingMode_HeaderSendMode } from "../../src/gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode.js";
import { ExternalProcessorClient, type ProcessingRequest, type ProcessingResponse } from "../../src/gen/envoy/service/ext_proc/v3/external_processor.js";
import { dig } from "../deploy/support/envoy-checks.js";
import { readRepoYaml } from "../deploy/support/repo.js";

export interface ExtProcFilterConfig {
  responseHeaderMode: "SEND" | "SKIP";
  responseBodyMode: "STREAMED" | "NONE";
  responseTrailerMode: "SEND" | "SKIP";
  messageTimeoutMs: number;
  /** The stream's buffer limit: the listener's per_connection_buffer_limit_bytes (Envoy's default 1 MiB). */
  bufferLimitBytes: number;
  failureModeAllow: boolean;
  allowModeOverride: boolean;
  forwardingNamespaces: string[];
  receivingNamespaces: string[];
}

/** Envoy's per_connection_buffer_limit_bytes when the config sets none. */
const ENVOY_DEFAULT_BUFFER_LIMIT = 1024 * 1024;

const EXT_PROC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";

function durationMs(value: unknown): number {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(String(value));
  if (!m) throw new Error(`not a duration: ${String(value)}`);
  return Number(m[1]) * 1000;
}

/** The ext_proc filter settings as envoy/envoy.yaml declares them, so the driver and the config cannot drift apart. */
export function filterConfigFromEnvoyYaml(): ExtProcFilterConfig {
  const config = readRepoYaml("envoy/envoy.yaml");
  const listeners = dig(config, "static_resources.listeners") as unknown[];
  const hcm = dig((dig(listeners[0], "filter_chains") as unknown[])[0], "filters") as unknown[];
  const http = dig(hcm[0], "typed_config.http_filters") as unknown[];
  const extProc = http.map((f) => dig(f, "typed_config") as Record<string, unknown>).find((t) => t["@type"] === EXT_PROC_TYPE);
  if (!extProc) throw new Error("envoy/envoy.yaml has no ext_proc filter");
  const mode = extProc["processing_mode"] as Record<string, string>;
  return {
    responseHeaderMode: mode["response_header_mode"] === "SEND" ? "SEND" : "SKIP",
    responseBodyMode: mode["response_body_mode"] === "STREAMED" ? "STREAMED" : "NONE",
    responseTrailerMode: mode["response_trailer_mode"] === "SEND" ? "SEND" : "SKIP",
    messageTimeoutMs: durationMs(extProc["message_timeout"] ?? "0.2s"),
    bufferLimitBytes: Number(dig(listeners[0], "per_connection_buffer_limit_bytes") ?? ENVOY_DEFAULT_BUFFER_LIMIT),
    failureModeAllow: extProc["failure_mode_allow"] === true,
    allowModeOverride: extProc["allow_mode_override"] === true,
    forwardingNamespaces: (dig(extProc, "metadata_options.forwarding_namespaces.untyped") as string[] | undefined) ?? [],
    receivingNamespaces: (dig(extProc, "metadata_options.receiving_namespaces.untyped") as string[] | undefined) ?? [],
  };
}

export interface UpstreamResponse {
  status: number;
  headers?: Record<string, string>;
  /** Body chunks as the upstream delivers them (any boundaries); may be endless. */
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  trailers?: Record<string, string>;
}

export interface DriveOptions {
  /** The stream's dynamic metadata before ext_proc runs, by namespace (what Check wrote lands under envoy.filters.http.ext_authz). */
  metadata: Record<string, Record<string, unknown>>;
  response: UpstreamResponse;
  /** The downstream client resets after receiving this many body chunks (no end_of_stream reaches the processor). */
  resetAfterChunks?: number;
  /** The same, after this many body bytes. */
  resetAfterBytes?: number;
  /** false: count what the client receives but keep none of it (body and chunks stay empty). Default true. */
  keepBody?: boolean;
}

export interface DriveResult {
  /** What the downstream client received. */
  status: number;
  body: Buffer;
  chunks: Buffer[];
  /** Body bytes the client received. */
  bytesDelivered: number;
  /** complete, downstream_reset, local_reply (Envoy answered itself), reset (Envoy reset a started response). */
  ending: "complete" | "downstream_reset" | "local_reply" | "reset";
  details?: string;
  /** The stream's dynamic metadata afterwards (receiving namespaces written by the processor). */
  metadata: Record<string, Record<string, unknown>>;
  messagesSent: number;
  messageTimeouts: number;
  modeOverridden: boolean;
  /** The largest body message sent to the processor, in bytes. */
  largestMessageBytes: number;
  /** Why Envoy stopped processing early and passed the rest unchanged (timeout, closed, error: <gRPC status>, spurious); absent when it did not. */
  gaveUp?: string;
}

interface Queued {
  data: Buffer;
  end: boolean;
}

function headerMap(h: Record<string, string>) {
  return { headers: Object.entries(h).map(([key, value]) => ({ key: key.toLowerCase(), value: "", rawValue: Buffer.from(value) })) };
}

/** One HTTP response through Envoy's ext_proc filter. */
class FilterRun {
  private call: ClientDuplexStream<ProcessingRequest, ProcessingResponse> | undefined;
  private processingComplete = false;
  private bodyMode: "STREAMED" | "NONE";
  private sendTrailers: boolean;
  private awaiting: "headers" | "trailers" | undefined;
  private held: Buffer[] = [];
  private heldEnd = false;
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private delivered = 0;
  /** The upstream is read-disabled (a watermark was raised). */
  private watermark = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private finished = false;
  private upstreamDone = false;
  private trailersPending = false;
  private readonly result: DriveResult;
  private resolve!: (r: DriveResult) => void;
  readonly done = new Promise<DriveResult>((r) => (this.resolve = r));

  constructor(
    private readonly client: ExternalProcessorClient,
    private readonly cfg: ExtProcFilterConfig,
    private readonly o: DriveOptions,
  ) {
    this.bodyMode = cfg.responseBodyMode;
    this.sendTrailers = cfg.responseTrailerMode === "SEND";
    this.result = { status: o.response.status, body: Buffer.alloc(0), chunks: [], bytesDelivered: 0, ending: "complete", metadata: structuredClone(o.metadata), messagesSent: 0, messageTimeouts: 0, modeOverridden: false, largestMessageBytes: 0 };
  }

  async run(): Promise<DriveResult> {
    const { response } = this.o;
    const headers = { ":status": String(response.status), ...response.headers };
    const chunks = Symbol.asyncIterator in response.body ? response.body[Symbol.asyncIterator]() : toAsync(response.body);
    // Look one chunk ahead: Envoy's last data frame carries end_stream (unless trailers follow).
    let next = await chunks.next();
    const hasTrailers = response.trailers !== undefined;
    if (this.cfg.responseHeaderMode === "SEND") {
      this.send({ responseHeaders: { headers: headerMap(headers), attributes: {}, endOfStream: next.done === true && !hasTrailers } }, "headers");
    } else {
      this.started = true;
    }
    while (!next.done && !this.finished) {
      const current = Buffer.from(next.value);
      while (this.readDisabled()) await new Promise<void>((r) => (this.wake = r));
      next = await chunks.next();
      this.onData(current, next.done === true && !hasTrailers);
    }
    if (!this.finished && hasTrailers) this.onTrailers(response.trailers!);
    this.upstreamDone = true;
    return this.done;
  }

  private open(): ClientDuplexStream<ProcessingRequest, ProcessingResponse> {
    if (this.call) return this.call;
    const call = this.client.process();
    call.on("data", (res: ProcessingResponse) => {
      this.onResponse(res);
      this.signal();
    });
    call.on("status", (s: { code: number; details: string }) => {
      if (this.processingComplete || this.finished) return;
      if (s.code === 0) this.giveUp("closed");
      else this.fail(500, `ext_proc_error_gRPC_error_${s.code}`, `error: ${s.code} ${s.details}`);
    });
    call.on("error", () => undefined);
    this.call = call;
    return call;
  }

  private forwardedMetadata() {
    const filterMetadata: Record<string, Record<string, unknown>> = {};
    for (const ns of this.cfg.forwardingNamespaces) if (this.result.metadata[ns]) filterMetadata[ns] = this.result.metadata[ns];
    return { filterMetadata, typedFilterMetadata: {} };
  }

  /** Whether Envoy reads no more from the upstream now: a watermark is raised and processing goes on. */
  private readDisabled(): boolean {
    if (this.finished || this.processingComplete) return false;
    if (this.awaiting === "headers" && this.held.length > 0) return true;
    if (this.watermark && this.queuedBytes < this.cfg.bufferLimitBytes / 2) this.watermark = false;
    return this.watermark;
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private send(part: Partial<ProcessingRequest>, awaiting?: "headers" | "trailers"): void {
    const req: ProcessingRequest = { ...part, metadataContext: this.forwardedMetadata(), attributes: {}, observabilityMode: false };
    this.open().write(req);
    this.result.messagesSent += 1;
    if (req.responseBody) this.result.largestMessageBytes = Math.max(this.result.largestMessageBytes, req.responseBody.body.length);
    if (awaiting) this.awaiting = awaiting;
    this.armTimer();
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(), this.cfg.messageTimeoutMs);
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onData(data: Buffer, end: boolean): void {
    if (this.processingComplete || this.bodyMode === "NONE") {
      if (this.awaiting === "headers" && !this.processingComplete) {
        this.held.push(data);
        this.heldEnd = end;
      } else this.deliver(data, end);
      return;
    }
    if (this.awaiting === "headers") {
      // "Header processing still in progress -- holding body data"
      this.held.push(data);
      this.heldEnd = end;
      return;
    }
    this.enqueue({ data, end });
    this.send({ responseBody: { body: data, endOfStream: end } });
  }

  private onTrailers(trailers: Record<string, string>): void {
    if (this.processingComplete || !this.sendTrailers) {
      this.trailersPending = false;
      return this.complete();
    }
    if (this.queue.length > 0 || this.awaiting !== undefined) {
      this.trailersPending = true;
      this.pendingTrailers = trailers;
      return;
    }
    this.send({ responseTrailers: { trailers: headerMap(trailers) } }, "trailers");
  }

  private pendingTrailers: Record<string, string> | undefined;

  private enqueue(chunk: Queued): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.data.length;
    if (this.queuedBytes > this.cfg.bufferLimitBytes) this.watermark = true;
  }

  private onResponse(res: ProcessingResponse): void {
    if (this.processingComplete || this.finished) return;
    if (res.responseHeaders && this.awaiting === "headers") {
      this.stopTimer();
      this.awaiting = undefined;
      if (this.cfg.allowModeOverride && res.modeOverride) {
        this.result.modeOverridden = true;
        this.bodyMode = res.modeOverride.responseBodyMode === ProcessingMode_BodySendMode.STREAMED ? "STREAMED" : "NONE";
        this.sendTrailers = res.modeOverride.responseTrailerMode === ProcessingMode_HeaderSendMode.SEND;
      }
      this.receiveMetadata(res);
      this.started = true;
      const held = Buffer.concat(this.held);
      const hadHeld = this.held.length > 0;
      this.held = [];
      if (hadHeld) {
        if (this.bodyMode === "STREAMED") {
          this.enqueue({ data: held, end: this.heldEnd });
          this.send({ responseBody: { body: held, endOfStream: this.heldEnd } });
        } else this.deliver(held, this.heldEnd);
      } else if (this.upstreamDone && this.queue.length === 0) this.afterBody();
      return;
    }
    if (res.responseBody && this.queue.length > 0 && this.awaiting === undefined) {
      this.stopTimer();
      const chunk = this.queue.shift()!;
      this.queuedBytes -= chunk.data.length;
      const mutation = res.responseBody.response?.bodyMutation;
      let data = chunk.data;
      if (mutation?.clearBody) data = Buffer.alloc(0);
      else if (mutation?.body !== undefined) data = Buffer.from(mutation.body);
      this.receiveMetadata(res);
      this.deliver(data, chunk.end);
      if (this.queue.length > 0) this.armTimer();
      else if (this.upstreamDone) this.afterBody();
      return;
    }
    if (res.responseTrailers && this.awaiting === "trailers") {
      this.stopTimer();
      this.awaiting = undefined;
      this.receiveMetadata(res);
      return this.complete();
    }
    // Spurious: out of order or unexpected. Envoy ignores the processor from now on.
    this.giveUp("spurious");
  }

  private afterBody(): void {
    if (this.trailersPending && this.pendingTrailers) {
      this.trailersPending = false;
      const t = this.pendingTrailers;
      this.pendingTrailers = undefined;
      return this.onTrailers(t);
    }
    if (!this.trailersPending) this.complete();
  }

  private receiveMetadata(res: ProcessingResponse): void {
    for (const [ns, value] of Object.entries(res.dynamicMetadata ?? {})) {
      if (this.cfg.receivingNamespaces.includes(ns)) this.result.metadata[ns] = value as Record<string, unknown>;
    }
  }

  private deliver(data: Buffer, end: boolean): void {
    if (this.finished) return;
    if (data.length > 0) {
      this.delivered += 1;
      this.result.bytesDelivered += data.length;
      if (this.o.keepBody !== false) this.result.chunks.push(data);
    }
    if (this.o.resetAfterChunks !== undefined && this.delivered >= this.o.resetAfterChunks) return this.finish("downstream_reset");
    if (this.o.resetAfterBytes !== undefined && this.result.bytesDelivered >= this.o.resetAfterBytes) return this.finish("downstream_reset");
    if (end) this.complete();
  }

  /** Processing is over (timeout with failure_mode_allow, processor closed, spurious answer): pass everything on unchanged. */
  private giveUp(why: string): void {
    this.result.gaveUp ??= why;
    this.processingComplete = true;
    this.stopTimer();
    this.closeStream();
    this.awaiting = undefined;
    this.started = true;
    const rest = this.queue.splice(0);
    this.queuedBytes = 0;
    if (this.held.length > 0) rest.push({ data: Buffer.concat(this.held.splice(0)), end: this.heldEnd });
    for (const q of rest) this.deliver(q.data, q.end);
    if (!this.finished && this.upstreamDone) this.complete();
    this.signal();
  }

  private onTimeout(): void {
    this.result.messageTimeouts += 1;
    if (this.cfg.failureModeAllow) return this.giveUp("timeout");
    this.fail(504, "ext_proc_error_per-message_timeout_exceeded", "timeout");
  }

  private fail(status: number, details: string, why: string): void {
    this.processingComplete = true;
    this.stopTimer();
    this.closeStream();
    if (this.cfg.failureModeAllow) return this.giveUp(why);
    this.result.details = details;
    if (this.started) this.finish("reset");
    else {
      this.result.status = status;
      this.finish("local_reply");
    }
  }

  private complete(): void {
    this.finish(this.result.ending);
  }

  private closeStream(): void {
    const call = this.call;
    if (!call) return;
    this.call = undefined;
    call.end();
    call.cancel();
  }

  private finish(ending: DriveResult["ending"]): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTimer();
    this.result.ending = ending;
    // onDestroy: processing complete, close the gRPC stream (half-close, then reset).
    this.processingComplete = true;
    this.closeStream();
    this.result.body = Buffer.concat(this.result.chunks);
    this.signal();
    this.resolve(this.result);
  }
}

async function* toAsync(items: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const item of items) yield item;
}

export class EnvoyExtProcDriver {
  readonly client: ExternalProcessorClient;

  constructor(
    address: string,
    readonly config: ExtProcFilterConfig = filterConfigFromEnvoyYaml(),
  ) {
    this.client = new ExternalProcessorClient(address, credentials.createInsecure());
  }

  /** One HTTP response through the filter; resolves when Envoy would have finished with it. */
  drive(o: DriveOptions): Promise<DriveResult> {
    return new FilterRun(this.client, this.config, o).run();
  }

  close(): void {
    this.client.close();
  }
}

/** Splits bytes at pseudo-random boundaries (seeded, so a failure repeats), sizes 1..maxChunk. */
export function splitAnywhere(data: Uint8Array, seed: number, maxChunk = 64): Uint8Array[] {
  const out: Uint8Array[] = [];
  let s = seed >>> 0 || 1;
  let at = 0;
  while (at < data.length) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const size = 1 + (s % maxChunk);
    out.push(data.subarray(at, at + size));
    at += size;
  }
  return out;
}
