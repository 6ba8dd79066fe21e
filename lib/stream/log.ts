/**
 * Structured logs for the streaming processes: one JSON object per line on stderr
 * (`{"ts":..., "level":..., "component":..., "event":..., ...fields}`), secrets masked by
 * `redact`. Small on purpose: the producer, consumer, supervisor and broker script share it.
 */
import { redact } from "../config/config.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where each line goes (default: stderr). Tests pass an array's push. */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function toJson(value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, cause: toJson(value.cause) };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** Make a JSON-lines logger for one component (e.g. "producer"). */
export function jsonLogger(component: string, opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? "info";
  const write = opts.write ??
    ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  const make = (base: LogFields): Logger => {
    const emit = (lvl: LogLevel) => (event: string, fields: LogFields = {}) => {
      if (RANK[lvl] < RANK[level]) return;
      const rec: LogFields = { ts: new Date().toISOString(), level: lvl, component, event };
      for (const [k, v] of Object.entries({ ...base, ...fields })) rec[k] = toJson(v);
      write(redact(JSON.stringify(rec)));
    };
    return {
      debug: emit("debug"),
      info: emit("info"),
      warn: emit("warn"),
      error: emit("error"),
      child: (fields) => make({ ...base, ...fields }),
      level,
    };
  };
  return make({});
}

/** A logger that drops everything (for library calls made without one). */
export const silentLogger: Logger = jsonLogger("silent", { level: "error", write: () => {} });
