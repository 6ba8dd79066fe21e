/**
 * Command-line options for the runner's CLIs: the subset of `node:util` parseArgs they use
 * (string and boolean options, short aliases, defaults, positionals, `--name=value`, `--`),
 * without its import: that initialises Deno's Node compatibility layer, ~6 ms at the very start
 * of every `deno task run` before any job can start (measured; the runner's first timer pays
 * it later, while the first jobs start).
 * Errors carry the same `code` values as node's (ERR_PARSE_ARGS_*), so callers handle both alike.
 */
import { ConfigError, redact } from "../config/config.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  default?: string | boolean;
}

type Value<S extends OptionSpec> = S["type"] extends "string" ? string : boolean;

/** Parsed values: options with a default are always present. */
export type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { default: string | boolean } ? Value<O[K]>
    : Value<O[K]> | undefined;
};

export class ArgsError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "ArgsError";
  }
}

export function parseArgs<O extends Record<string, OptionSpec>>(
  cfg: { args: readonly string[]; options: O; allowPositionals?: boolean },
): { values: Values<O>; positionals: string[] } {
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(cfg.options).filter(([, o]) => o.short).map(([k, o]) => [o.short!, k]),
  );
  const args = [...cfg.args];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.length > 2 && a[0] === "-" && a[1] !== "-") {
      // A group of short options, as node reads it: "-ab" is "-a -b", and a string option
      // takes the rest of the word as its value ("-fVALUE"); never a positional.
      const expanded: string[] = [];
      for (let j = 1; j < a.length; j++) {
        const long = byShort.get(a[j]);
        if (long && cfg.options[long].type === "string" && j < a.length - 1) {
          expanded.push(`--${long}=${a.slice(j + 1)}`);
          break;
        }
        expanded.push(`-${a[j]}`);
      }
      args.splice(i, 1, ...expanded);
      i--;
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0) inline = a.slice(eq + 1);
    } else if (a.startsWith("-") && a.length === 2) {
      name = byShort.get(a[1]) ?? a;
    } else {
      positionals.push(a);
      continue;
    }
    const spec = Object.hasOwn(cfg.options, name) ? cfg.options[name] : undefined;
    if (!spec) throw new ArgsError("ERR_PARSE_ARGS_UNKNOWN_OPTION", `Unknown option '${a}'`);
    if (spec.type === "boolean") {
      if (inline !== undefined) {
        throw new ArgsError(
          "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
          `Option '--${name}' does not take an argument`,
        );
      }
      values[name] = true;
    } else {
      const v = inline ?? args[++i];
      // A negative number ("--last -1") is a value, for the option's own check to refuse with
      // its own words; no short option is a digit.
      const isOption = v?.startsWith("-") && !/^-\d/.test(v);
      if (v === undefined || (inline === undefined && isOption)) {
        throw new ArgsError(
          "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
          `Option '--${name} <value>' argument missing`,
        );
      }
      values[name] = v;
    }
  }
  if (positionals.length > 0 && !cfg.allowPositionals) {
    throw new ArgsError(
      "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL",
      `Unexpected argument '${positionals[0]}'. This command does not take positional arguments`,
    );
  }
  for (const [k, o] of Object.entries(cfg.options)) {
    if (!(k in values) && o.default !== undefined) values[k] = o.default;
  }
  return { values: values as Values<O>, positionals };
}

/**
 * A flag's value as a whole number >= 1 (decimal digits only: "0x2", "1e1", " 2" and "2.0" are
 * refused, as by config's parseInteger); else an ArgsError saying why (the caller exits 2).
 */
export function flagInteger(flag: string, raw: string): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isSafeInteger(n) && n >= 1) return n;
  throw new ArgsError(
    "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
    n >= 1
      ? `${flag} is too large, got ${raw} (at most ${Number.MAX_SAFE_INTEGER})`
      : `${flag} must be an integer >= 1, got ${JSON.stringify(raw)}`,
  );
}

/**
 * How a runner CLI (`prog`: run, runs, schedule) reports an error it ends on, the same in each:
 * bad usage or configuration as `prog: message` (exit 2; options add "see --help"), anything
 * else as `prog: Name: message` (exit 1). Secrets are masked.
 */
export function cliFailure(prog: string, e: unknown): { line: string; code: number } {
  const err = e as Error & { code?: string };
  if (e instanceof ConfigError) return { line: redact(`${prog}: ${err.message}`), code: 2 };
  if (typeof err.code === "string" && err.code.startsWith("ERR_PARSE_ARGS")) {
    return { line: `${prog}: ${err.message.split(". ")[0]} (see --help)`, code: 2 };
  }
  return { line: redact(`${prog}: ${err.name}: ${err.message}`), code: 1 };
}
