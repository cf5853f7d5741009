import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { maskString, maskValue } from "./mask.js";

export type { Logger } from "pino";

/**
 * Builds the JSON logger. Masking happens here, once, for every line: credentials in
 * headers, bearer tokens, query-string keys and registered secret values never reach the output.
 */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? "info",
    base: { service: "tollgate" },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: "msg",
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => maskValue(object) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === "string" ? maskString(a) : a)) as Parameters<typeof method>;
        method.apply(this, masked);
      },
    },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}
