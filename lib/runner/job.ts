/**
 * The job contract: what every `jobs/*.ts` script and the runner agree on.
 *
 * A job script is thin. It parses its own arguments (`node:util` parseArgs, `--help`), then hands
 * its work to `runJob`, which
 *   - masks every secret the job may read (its declared variables) in all it prints through the
 *     console, as it prints it (its log is the file it writes; see maskConsole);
 *   - calls `main(args, signal)`; `signal` aborts on SIGTERM or SIGINT (the runner sends SIGTERM
 *     at a timeout or when it shuts down, then SIGKILL after a grace period), and when the runner
 *     that started the job is gone (checked every second), so pass it on to every long-running
 *     call; a second signal more than a second after the first exits at once;
 *   - started by the runner, stands in for the runner's SIGKILL where the runner cannot send it:
 *     it exits EXIT_KILLED, after one line saying why, once kill_grace has passed since it saw
 *     that its runner is gone, or once its timeout and kill_grace (and a second more, the runner's
 *     own kill coming first) have passed, so that no job outlives its timeout;
 *   - exits 0 when `main` resolves (or with the number `main` returns);
 *   - exits EXIT_NOTHING_TO_DO (78) when `main` calls `nothingToDo(reason)`: the runner records
 *     the job as `skipped` and skips the dependents that need its output (see jobs.yaml `trigger`);
 *   - otherwise prints ONE clear line to stderr (`<job>: <Error>: <message> (at file:line)`,
 *     secrets masked by `redact`) and exits EXIT_FAILED (1).
 *
 * The runner starts each job with a cleared environment holding only the job's declared
 * `permissions.env` variables plus the names in RUNNER_ENV (always readable by the job: the runner
 * adds them to `--allow-env`). Read them with `jobContext()`; outside the runner they are absent.
 *
 * Usage in jobs/x.ts:
 *
 *   import { parseArgs } from "node:util";
 *   import { nothingToDo, runJob } from "../lib/runner/job.ts";
 *   if (import.meta.main) {
 *     await runJob({ name: "x", help: HELP }, async (args, signal) => {
 *       const { values } = parseArgs({ args, options: { ... } });
 *       if (nothingNew) nothingToDo("no new files under s3://bucket/prefix");
 *       await doWork({ signal });
 *     });
 *   }
 */
import { ConfigError, maskConsole, redact, registerSecrets } from "../config/config.ts";

/** Success. */
export const EXIT_OK = 0;
/** The job failed (any uncaught error). */
export const EXIT_FAILED = 1;
/**
 * Bad usage or configuration (unknown flag, bad argument, an invalid setting): `runJob` maps a
 * parseArgs TypeError and a ConfigError to this. Trying again cannot help: the runner does not
 * retry it.
 */
export const EXIT_USAGE = 2;
/** "Nothing to do" (sysexits EX_CONFIG is 78; chosen because no tool exits with it by accident). */
export const EXIT_NOTHING_TO_DO = 78;
/**
 * The job stopped itself where the runner would have killed it (its runner gone, or its timeout
 * and kill_grace over): 128 + 9, what a shell reports for a process ended by SIGKILL.
 */
export const EXIT_KILLED = 137;

/** Environment variables the runner always sets for a job (and always lets it read). */
export const RUNNER_ENV = {
  /** Id of the run (one `deno task run` or one scheduled fire), e.g. "20260424-010000-ab12". */
  runId: "EGX_RUN_ID",
  /** The job's id in jobs.yaml. */
  job: "EGX_JOB",
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: "EGX_ATTEMPT",
  /** When the attempt's timeout ends, in milliseconds since the epoch. */
  deadline: "EGX_DEADLINE",
  /** The manifest's kill_grace in milliseconds: how long a stopped job has before SIGKILL. */
  killGrace: "EGX_KILL_GRACE_MS",
} as const;

/** Signals this close to the first one are part of the same stop request. */
const SIGNAL_COALESCE_MS = 1000;
/** How often a job started by the runner checks that the runner is still its parent. */
const RUNNER_WATCH_MS = 1000;
/**
 * How long after its timeout and kill_grace a job stops itself under a live runner: the runner's
 * own SIGKILL (due then) comes first, and the job only ends what a stuck runner left running.
 */
const SELF_KILL_SLACK_MS = 1000;

/** Thrown by `nothingToDo`; `runJob` turns it into exit code EXIT_NOTHING_TO_DO. */
export class NothingToDo extends Error {
  override name = "NothingToDo";
}

/** Stop the job, reporting "nothing to do" (not a failure). Only meaningful inside `runJob`. */
export function nothingToDo(reason: string): never {
  throw new NothingToDo(reason);
}

export interface JobMeta {
  /** The job's name, used as the prefix of its error line. */
  name: string;
  /** Printed (and exit 0) when the arguments contain `--help` or `-h`; main is not called. */
  help?: string;
}

/** A job's body. Resolve (or return 0) for success; return another number to exit with it. */
export type JobMain = (
  args: string[],
  signal: AbortSignal,
) => Promise<number | void> | number | void;

export interface JobContext {
  runId?: string;
  job?: string;
  attempt?: number;
  /** When the attempt's timeout ends (epoch milliseconds). */
  deadline?: number;
  killGraceMs?: number;
}

/** The runner's context for this process, or empty fields when run by hand. Needs no flags. */
export function jobContext(): JobContext {
  const get = (name: string) =>
    Deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
      ? Deno.env.get(name)
      : undefined;
  const attempt = get(RUNNER_ENV.attempt);
  const time = (name: string) => {
    const n = Number(get(name) || NaN); // unset or empty: none
    return Number.isFinite(n) ? n : undefined;
  };
  return {
    runId: get(RUNNER_ENV.runId),
    job: get(RUNNER_ENV.job),
    attempt: attempt === undefined ? undefined : Number(attempt),
    deadline: time(RUNNER_ENV.deadline),
    killGraceMs: time(RUNNER_ENV.killGrace),
  };
}

/** Where an error was thrown, as `file:line` relative to the working directory, if known. */
function origin(err: Error): string | undefined {
  const cwd = (() => {
    try {
      return "file://" + Deno.cwd() + "/";
    } catch {
      return undefined; // no --allow-read for the cwd
    }
  })();
  for (const line of (err.stack ?? "").split("\n").slice(1)) {
    const m = /\(?((?:file|https?|npm):\/\/?[^\s()]+?):(\d+):\d+\)?$/.exec(line.trim());
    if (!m || m[1].includes("/node_modules/") || m[1].startsWith("npm:")) continue;
    const file = cwd && m[1].startsWith(cwd) ? m[1].slice(cwd.length) : m[1];
    return `${file}:${m[2]}`;
  }
  return undefined;
}

/** Lines of an error's message printed after its first. */
const MAX_MESSAGE_LINES = 40;

/**
 * The message for an uncaught error, secrets masked: one line (the message's first line, the
 * first cause, the origin), then the message's further lines as they are (e.g. every problem of
 * an invalid file, `file:LINE:COL message` each).
 */
export function errorLine(name: string, err: unknown): string {
  if (!(err instanceof Error)) return redact(`${name}: error: ${String(err)}`);
  const [first, ...more] = err.message.split("\n");
  let msg = `${name}: ${err.name}: ${first}`;
  if (err.cause !== undefined) {
    const c = err.cause instanceof Error
      ? `${err.cause.name}: ${err.cause.message.split("\n")[0]}`
      : String(err.cause);
    // A message that already quotes its cause (as most wrapping errors here do) says it once.
    const said = err.cause instanceof Error && first.includes(err.cause.message.split("\n")[0]);
    if (!said) msg += ` (cause: ${c})`;
  }
  const at = origin(err);
  if (at) msg += ` (at ${at})`;
  const rest = more.filter((l) => l.trim() !== "");
  for (const line of rest.slice(0, MAX_MESSAGE_LINES)) msg += `\n${line}`;
  if (rest.length > MAX_MESSAGE_LINES) msg += `\n(${rest.length - MAX_MESSAGE_LINES} more lines)`;
  return redact(msg);
}

/**
 * Run a job body under the contract above and exit the process with its code. Never returns.
 */
export async function runJob(meta: JobMeta, main: JobMain): Promise<never> {
  const args = [...Deno.args];
  if (meta.help !== undefined && (args.includes("--help") || args.includes("-h"))) {
    console.log(meta.help);
    Deno.exit(EXIT_OK);
  }
  // Every secret this job may read is masked in what it reports, read by the job or not yet,
  // and in all it prints through the console: its log is the file it writes, read while it runs.
  registerSecrets();
  maskConsole();
  const controller = new AbortController();
  let received: string | undefined;
  let receivedAt = 0;
  const onSignal = (sig: Deno.Signal) => () => {
    if (received) {
      // A signal arriving with the first is the same request (a terminal's Ctrl-C reaches the
      // runner and the job at once, and the runner then sends SIGTERM); a later one means
      // "stop now".
      if (Date.now() - receivedAt >= SIGNAL_COALESCE_MS) Deno.exit(sig === "SIGINT" ? 130 : 143);
      return;
    }
    received = sig;
    receivedAt = Date.now();
    controller.abort(new DOMException(`${meta.name} received ${sig}`, "AbortError"));
  };
  const ctx = jobContext();
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGTERM", onSignal("SIGTERM")],
    ["SIGINT", onSignal("SIGINT")],
  ];
  // Started by the runner: a terminal's hangup reaches the job too (a job without ffi is in the
  // runner's process group), and SIGHUP would end it outright. The runner decides: it stops its
  // jobs with SIGTERM and their kill_grace, or goes on under nohup (lib/runner/stop_signals.ts).
  if (ctx.runId !== undefined) handlers.push(["SIGHUP", () => {}]);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  // Started by the runner: stop like on SIGTERM if the runner dies (it was killed outright, so
  // it cannot stop its jobs itself); the job is then re-parented and its parent pid changes.
  // With no runner left to send SIGKILL, the job exits itself once kill_grace has passed; and at
  // its timeout's end plus kill_grace, whatever became of the runner. Times are measured on the
  // monotonic clock from here (a wall clock set forward must not end a job early).
  let watch: ReturnType<typeof setInterval> | undefined;
  if (ctx.runId !== undefined) {
    const parent = Deno.ppid;
    const grace = ctx.killGraceMs;
    const lastAt = ctx.deadline === undefined || grace === undefined
      ? Infinity
      : performance.now() + (ctx.deadline - Date.now()) + grace + SELF_KILL_SLACK_MS;
    let goneAt: number | undefined;
    const exitKilled = (why: string) => {
      console.error(`${meta.name}: stopping itself: ${why}`);
      Deno.exit(EXIT_KILLED);
    };
    watch = setInterval(() => {
      const now = performance.now();
      if (goneAt === undefined && Deno.ppid !== parent) {
        goneAt = now;
        if (!received) {
          received = "the runner's exit";
          receivedAt = Date.now();
          controller.abort(new DOMException(`${meta.name}: its runner is gone`, "AbortError"));
        }
      }
      if (goneAt !== undefined && grace !== undefined && now - goneAt >= grace) {
        exitKilled(`its runner is gone and kill_grace (${grace} ms) has passed`);
      }
      if (now >= lastAt) exitKilled(`its timeout and kill_grace (${grace} ms) have passed`);
    }, RUNNER_WATCH_MS);
    Deno.unrefTimer(watch);
  }

  let code: number;
  try {
    const r = await main(args, controller.signal);
    code = typeof r === "number" ? r : EXIT_OK;
  } catch (err) {
    if (err instanceof NothingToDo) {
      console.log(`${meta.name}: nothing to do: ${redact(err.message)}`);
      code = EXIT_NOTHING_TO_DO;
    } else if (received) {
      console.error(`${meta.name}: stopped by ${received}`);
      code = received === "SIGINT" ? 130 : 143;
    } else {
      console.error(errorLine(meta.name, err));
      const usage = err instanceof ConfigError ||
        String((err as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS");
      code = usage ? EXIT_USAGE : EXIT_FAILED;
    }
  }
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  clearInterval(watch);
  Deno.exit(code);
}
