import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Caps open connections without locking probes out: at the cap, a new connection closes the oldest
 * one that is not serving a request (idle keep-alive, or still sending its headers) instead of
 * being refused. Holding connections open then cannot keep /healthz and /readyz from answering;
 * only connections with a request in progress are never cut. (server.maxConnections would drop
 * the newcomer instead, which is what let 300 idle connections take the probes down.)
 */
export function capConnections(server: Server, max: number): void {
  // Keyed by the peer's address and port: with TLS the request's socket is not the raw one that
  // 'connection' saw. Insertion order is connection order, so the first idle one is the oldest.
  const open = new Map<string, { socket: Socket; busy: number }>();
  server.on("connection", (socket: Socket) => {
    if (open.size >= max) {
      const victim = [...open].find(([, state]) => state.busy === 0);
      if (victim === undefined) {
        socket.destroy();
        return;
      }
      open.delete(victim[0]);
      victim[1].socket.destroy();
    }
    const key = peerOf(socket);
    open.set(key, { socket, busy: 0 });
    socket.once("close", () => open.delete(key));
  });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const state = open.get(peerOf(req.socket));
    if (!state) return;
    state.busy += 1;
    res.once("close", () => (state.busy -= 1));
  });
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ""}|${socket.remotePort ?? ""}`;
}
