import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const REDIS_SERVER = process.env["REDIS_SERVER_BIN"] ?? "redis-server";
const REDIS_CLI = process.env["REDIS_CLI_BIN"] ?? "redis-cli";

/** Processes started here, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A free loopback TCP port (optionally one whose cluster-bus port, +10000, is free too). */
export async function freePort(options: { withClusterBus?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenAndRelease(0);
    if (!options.withClusterBus) return port;
    if (port + 10000 > 65535) continue;
    if ((await listenAndRelease(port + 10000).catch(() => 0)) !== 0) return port;
  }
  throw new Error("no free port found");
}

function listenAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const chosen = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(chosen));
    });
  });
}

/** True when something on the port answers PING with PONG. */
export function ping(port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Whether the server process is up. */
  readonly running: boolean;
  /** (Re)starts the server on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** SIGKILL, like a crash; waits until the process is gone. */
  kill(): Promise<void>;
  /** Stops the server (if running) and removes its temp dir. */
  stop(): Promise<void>;
}

interface ServerProcessOptions {
  port: number;
  dir: string;
  extraArgs?: string[];
}

function spawnServer(options: ServerProcessOptions): ChildProcess {
  const args = [
    "--port", String(options.port),
    "--bind", "127.0.0.1",
    "--save", "",
    "--appendonly", "no",
    "--dir", options.dir,
    "--loglevel", "warning",
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(REDIS_SERVER, args, { stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  child.stderr?.resume();
  return child;
}

function killAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

/** Starts a throwaway redis-server (no persistence) on a free loopback port, or on `port`. */
export async function startRedisServer(options: { port?: number; extraArgs?: string[] } = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "tollgate-redis-"));
  let child: ChildProcess | undefined;
  const isRunning = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return isRunning();
    },
    async start() {
      if (isRunning()) return;
      child = spawnServer({ port, dir, ...(options.extraArgs === undefined ? {} : { extraArgs: options.extraArgs }) });
      const started = child;
      await waitUntil(`redis-server on port ${port}`, async () => {
        if (started.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${started.exitCode}`);
        return ping(port);
      }, 5000);
    },
    async kill() {
      await killAndWait(child, "SIGKILL");
    },
    async stop() {
      await killAndWait(child, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface RedisCluster {
  readonly ports: number[];
  /** The node processes' pids (for CPU readings), in port order. */
  readonly pids: number[];
  /** redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 */
  readonly url: string;
  /** SIGKILLs node i (0..2), like a crash. */
  killNode(i: number): Promise<void>;
  /** Restarts node i with its saved cluster config (same id and slots) and waits for cluster_state:ok. */
  restartNode(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A local 3-master Redis Cluster (no replicas): three redis-server --cluster-enabled processes joined
 * with `redis-cli --cluster create`, returned once every node reports cluster_state:ok.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  // A free port can be taken by another test's server (or its cluster bus port, +10000) between
  // the check and the node's bind; the node then exits. Start again on other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisClusterOnce();
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function startRedisClusterOnce(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-redis-cluster-"));
  const ports: number[] = [];
  while (ports.length < 3) {
    const port = await freePort({ withClusterBus: true });
    if (!ports.includes(port)) ports.push(port);
  }
  const spawnNode = (port: number): ChildProcess =>
    spawnServer({
      port,
      dir,
      extraArgs: ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-node-timeout", "5000"],
    });
  const children = ports.map(spawnNode);
  const waitClusterOk = async (): Promise<void> => {
    for (const port of ports) {
      await waitUntil(`cluster_state:ok on ${port}`, async () => {
        const { stdout } = await run(REDIS_CLI, ["-p", String(port), "cluster", "info"]);
        return stdout.includes("cluster_state:ok") && stdout.includes("cluster_slots_ok:16384");
      }, 15_000);
    }
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((c) => killAndWait(c, "SIGKILL")));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, port] of ports.entries()) {
      await waitUntil(`cluster node ${port}`, async () => {
        if (children[i]!.exitCode !== null) throw new Error(`cluster node ${port} exited with ${children[i]!.exitCode}`);
        return ping(port);
      }, 5000);
    }
    await run(REDIS_CLI, ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"], {
      timeout: 20_000,
    });
    await waitClusterOk();
  } catch (err: unknown) {
    await stop();
    throw err;
  }
  const nodeAt = (i: number): { port: number; child: ChildProcess | undefined } => {
    const port = ports[i];
    if (port === undefined) throw new Error(`no cluster node ${i}`);
    return { port, child: children[i] };
  };
  return {
    ports,
    get pids() {
      return children.map((c) => c?.pid ?? 0);
    },
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(",")}`,
    async killNode(i) {
      await killAndWait(nodeAt(i).child, "SIGKILL");
    },
    async restartNode(i) {
      const { port, child } = nodeAt(i);
      if (child !== undefined && child.exitCode === null && child.signalCode === null) return;
      children[i] = spawnNode(port);
      await waitUntil(`cluster node ${port}`, () => ping(port), 5000);
      await waitClusterOk();
    },
    stop,
  };
}

/**
 * Gives a process the CPU priority it would have on its own host: every thread of it, since on
 * Linux a nice value belongs to a thread (node's GC and I/O helpers, Redis's background threads),
 * and a main thread at -10 still waits for helpers left at 0.
 */
export function raisePriority(pid: number, nice = -10): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), nice);
}
