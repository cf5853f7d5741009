import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { TollgateError } from "../../../src/errors.js";
import { repoPath } from "./repo.js";

export interface MockLlm {
  url: string;
  child: ChildProcess;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts mock-llm/server.mjs on a free loopback port (PORT=0) and waits for its ready line. */
export function startMockLlm(env: Record<string, string> = {}): Promise<MockLlm> {
  const child = spawn(process.execPath, [repoPath("mock-llm/server.mjs")], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", MOCK_CHUNK_DELAY_MS: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new TollgateError("internal_error", "mock-llm did not report that it listens within 5 s"));
    }, 5000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { msg?: string; url?: string };
        if (msg.msg === "mock-llm listening" && msg.url) {
          clearTimeout(timer);
          resolve({ url: msg.url, child, stop });
        }
      } catch {
        // request log lines and anything else are not the ready line
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new TollgateError("internal_error", `mock-llm exited early with code ${String(code)}`));
    });
  });
}

export interface SseEvent {
  event: string | undefined;
  data: string;
}

/** Splits a text/event-stream body into events (blank-line separated, event:/data: fields). */
export function parseSse(text: string): SseEvent[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      let event: string | undefined;
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
        else throw new TollgateError("internal_error", `unexpected SSE line: ${JSON.stringify(line)}`);
      }
      return { event, data: data.join("\n") };
    });
}
