/**
 * Runs child processes and restarts each one when it crashes (non-zero exit or a signal), with
 * capped exponential backoff that resets once a child has stayed up for a minute. A child that
 * exits 0 is finished (a replay that ran out of bars) and is not restarted. A child that exits
 * EXIT_USAGE (2: bad usage or configuration, e.g. a warehouse file that became a folder) twice in
 * a row would fail the same way again: it is not restarted a second time, and the others are
 * stopped (the supervisor's caller then exits 2 too). Once is restarted like a crash: a child
 * killed in the middle of a write can leave a moment its successor misreads as a bad setting. On abort every child gets SIGTERM, then SIGKILL after the grace
 * period.
 */
import { sleep } from "../market/sources/source.ts";
import { EXIT_USAGE } from "../runner/job.ts";
import { type Logger, silentLogger } from "./log.ts";

export interface ChildSpec {
  name: string;
  /** Arguments to `deno` (e.g. ["run", "--allow-net", "lib/stream/cli.ts", "consumer"]). */
  args: string[];
  env?: Record<string, string>;
}

export interface SuperviseOptions {
  signal: AbortSignal;
  logger?: Logger;
  /** Backoff before a restart: first delay and cap, ms. */
  restartInitialMs?: number;
  restartMaxMs?: number;
  /** A child that ran this long before crashing restarts after the first delay again. */
  stableAfterMs?: number;
  /** SIGTERM -> SIGKILL grace at shutdown, ms. */
  graceMs?: number;
  /** Called whenever a child starts (tests use it to find pids). */
  onStart?: (name: string, pid: number) => void;
}

export interface ChildReport {
  name: string;
  starts: number;
  lastCode: number | null;
  /** It exited EXIT_USAGE twice in a row and was not restarted (the others were stopped). */
  gaveUp?: boolean;
}

const useSetsid = Deno.build.os === "linux";

async function superviseOne(
  spec: ChildSpec,
  opts: SuperviseOptions,
  giveUp: () => void,
): Promise<ChildReport> {
  const log = opts.logger ?? silentLogger;
  const initial = opts.restartInitialMs ?? 1_000;
  let delay = initial;
  let usageExits = 0;
  const report: ChildReport = { name: spec.name, starts: 0, lastCode: null };
  while (!opts.signal.aborted) {
    const started = Date.now();
    // Each child gets its own session (setsid), so a terminal's Ctrl-C reaches only the
    // supervisor, which then stops the children once, gracefully. Children watch their parent
    // (lib/stream/cli.ts) and stop if the supervisor dies.
    const [cmd, args] = useSetsid
      ? ["setsid", [Deno.execPath(), ...spec.args]]
      : [Deno.execPath(), spec.args];
    const child = new Deno.Command(cmd, {
      args,
      env: spec.env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    report.starts++;
    opts.onStart?.(spec.name, child.pid);
    log.info("supervisor.started", { child: spec.name, pid: child.pid, starts: report.starts });
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      killTimer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, opts.graceMs ?? 30_000);
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });
    const status = await child.status;
    opts.signal.removeEventListener("abort", onAbort);
    clearTimeout(killTimer);
    report.lastCode = status.code;
    if (opts.signal.aborted) {
      log.info("supervisor.stopped", { child: spec.name, code: status.code });
      break;
    }
    if (status.success) {
      log.info("supervisor.finished", { child: spec.name });
      break;
    }
    usageExits = status.code === EXIT_USAGE ? usageExits + 1 : 0;
    if (usageExits >= 2) {
      report.gaveUp = true;
      log.error("supervisor.gave_up", {
        child: spec.name,
        code: status.code,
        reason: "bad usage or configuration twice in a row (its error is above): a restart " +
          "would fail the same way; stopping the other children",
      });
      giveUp();
      break;
    }
    if (Date.now() - started > (opts.stableAfterMs ?? 60_000)) delay = initial;
    log.error("supervisor.crashed", {
      child: spec.name,
      code: status.code,
      signal: status.signal,
      restartInMs: delay,
    });
    await sleep(delay, opts.signal).catch(() => {});
    delay = Math.min(delay * 2, opts.restartMaxMs ?? 30_000);
  }
  return report;
}

/**
 * Supervise every child until all have finished, or `signal` aborted or a child gave up (exit
 * EXIT_USAGE), and they exited.
 */
export function supervise(children: ChildSpec[], opts: SuperviseOptions): Promise<ChildReport[]> {
  const gaveUp = new AbortController();
  const signal = AbortSignal.any([opts.signal, gaveUp.signal]);
  const give = () => gaveUp.abort();
  return Promise.all(children.map((c) => superviseOne(c, { ...opts, signal }, give)));
}
