/**
 * Execute a plan: each job is its own `deno run` process with exactly its permissions, started
 * the moment its dependencies allow and a slot is free (bounded concurrency), retried with
 * exponential backoff, killed (with everything it started) at its timeout, and recorded attempt
 * by attempt in the run history. Every state change is reported as a RunEvent.
 *
 * Process details (see launch.ts): the environment is cleared and rebuilt from the job's
 * declarations (see permissions.ts); stdout and stderr go straight to the attempt's log file; a
 * job with `ffi` gets its own process group, so that stopping it reaches whatever its native code
 * started; any other job is its own whole process tree.
 *
 * Job outcomes: exit 0 -> ok; exit 78 (EXIT_NOTHING_TO_DO) -> skipped; exit 2 (EXIT_USAGE: bad
 * usage or configuration) -> failed at once; anything else, a timeout or a signal -> retried while
 * retries remain, then failed. Dependents: a job whose `trigger` is
 * all_ok runs only when every dependency in the run is ok (skipped when one was skipped); a
 * none_failed job runs when no dependency failed; an all_done job runs once its dependencies
 * ended, whatever their outcome (e.g. cleanup). Otherwise a failed dependency makes the job
 * `upstream_failed` (not run). Aborting `signal` cancels the run: running jobs get SIGTERM, then
 * SIGKILL after `kill_grace`; jobs not started are recorded as `cancelled`.
 */
import { EXIT_NOTHING_TO_DO, EXIT_USAGE } from "./job.ts";
import { formatDuration } from "./duration.ts";
import type { JobSpec, Manifest } from "./manifest.ts";
import { attemptEnv, type JobCommand, jobCommand, type Plan, shellLine } from "./plan.ts";
import {
  type AttemptStatus,
  type History,
  type JobStatus,
  lockRun,
  runLockPath,
  RunOverlapError,
  type RunStatus,
} from "./history.ts";
import { hasSecrets, redact, redactFile } from "../config/config.ts";
import { launch, type Launched } from "./launch.ts";

export type RunEvent =
  | { type: "start"; job: string; attempt: number; at: number; logPath: string }
  | {
    type: "retry";
    job: string;
    attempt: number;
    at: number;
    delayMs: number;
    reason: string;
  }
  | {
    type: "end";
    job: string;
    status: JobStatus;
    at: number;
    durationMs: number;
    attempts: number;
    message?: string;
    logPath?: string;
    /** Last lines of the log (failures only). */
    tail?: string[];
  };

export interface JobResult {
  id: string;
  status: JobStatus;
  attempts: number;
  durationMs: number;
  message?: string;
  logPath?: string;
}

export interface RunResult {
  runId: string;
  target: string;
  status: RunStatus;
  startedAt: number;
  endedAt: number;
  durationMs: number;
  jobs: JobResult[];
}

export interface ExecuteOptions {
  history: History;
  /** Run logs go to `<logDir>/runs/<run-id>/<job>.<attempt>.log`. */
  logDir: string;
  /** The runner's environment (after `.env`); declared job variables come from here. */
  env: Readonly<Record<string, string>>;
  runId?: string;
  /** "manual" or "schedule" (recorded). */
  trigger?: string;
  /** A scheduled run's intended fire time (ms; recorded, see History.scheduledFires). */
  scheduledFor?: number;
  signal?: AbortSignal;
  /** Called for every event; if it throws, the run goes on and executePlan then rejects. */
  onEvent?: (e: RunEvent) => void;
  /** Overrides the plan's concurrency. */
  concurrency?: number;
  /** Lines of a failed job's log to include in its end event (default 10). */
  tailLines?: number;
  /**
   * Refuse to start (RunOverlapError, nothing recorded, no log folder left) while a live run of
   * the same target, or of any of the plan's jobs, is running on this host (History.startRun).
   */
  refuseOverlap?: boolean;
  /** Called once the run is recorded, before its first job starts (an error as for onEvent). */
  onStart?: () => void;
}

const TERMINAL: ReadonlySet<JobStatus> = new Set([
  "ok",
  "skipped",
  "failed",
  "upstream_failed",
  "cancelled",
]);
const MAX_BACKOFF_MS = 3_600_000;

/**
 * The wait before the retry that follows attempt `attempt`: `backoffMs`, doubled for each further
 * retry, up to an hour; a `retry_backoff` longer than an hour is waited as given, never doubled.
 */
export function retryDelay(backoffMs: number, attempt: number): number {
  return Math.min(backoffMs * 2 ** (attempt - 1), Math.max(MAX_BACKOFF_MS, backoffMs));
}

/** A new run id: UTC time and a random suffix, e.g. 20260423-230000-3fa9. */
export function newRunId(at = Date.now(), taken: (id: string) => boolean = () => false): string {
  const t = new Date(at).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  // Never one this process gave out (a scheduler firing two pipelines in one second) nor one
  // `taken` knows (the history): a repeated id would lose the second run.
  for (;;) {
    const r = crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0");
    const id = `${t}-${r}`;
    if (issuedRunIds.has(id) || taken(id)) continue;
    issuedRunIds.add(id);
    return id;
  }
}
const issuedRunIds = new Set<string>();

/**
 * A job writes its log itself (the runner hands it the file), so a secret it prints (a password
 * in an error, its environment) is in the file: once the attempt ended, the file is masked with
 * every secret the runner knows, streamed a MiB at a time (a job may print gigabytes) into
 * `<log>.masking`, which then replaces it: a runner stopped halfway leaves the log as it was,
 * never cut short. A log without a secret is only read; nothing to do, and no read, when the
 * runner knows no secret.
 */
async function maskLog(path: string): Promise<void> {
  if (!hasSecrets()) return;
  const masking = `${path}.masking`;
  try {
    if (await redactFile(path, masking)) await Deno.rename(masking, path);
  } catch (e) {
    // Nor a half-written copy left behind.
    await Deno.remove(masking).catch(() => {});
    // No log (the job could not start): nothing to mask. Anything else (a full disk) is said.
    if (!(e instanceof Deno.errors.NotFound)) {
      console.error(
        redact(`runner: could not mask the secrets in ${path}: ${(e as Error).message}`),
      );
    }
  }
}

/** A log line in the status output is cut to this many characters. */
const MAX_TAIL_LINE = 300;
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

/**
 * A log line fit for the terminal and the history: control characters (escape sequences, CR,
 * BEL, ...) shown as `\xNN` rather than acted on, tabs as spaces, and cut to MAX_TAIL_LINE.
 */
export function printable(line: string): string {
  let out = escaped(line);
  if (out.length > MAX_TAIL_LINE) {
    out = `${out.slice(0, MAX_TAIL_LINE)}... (${out.length - MAX_TAIL_LINE} more characters)`;
  }
  return out;
}

function escaped(line: string): string {
  return line.replace(/\r$/, "").replaceAll("\t", "  ").replace(
    CONTROL,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** The last `n` lines of a (possibly large) log file, secrets masked, made printable. */
export function tailOf(path: string, n: number): string[] {
  try {
    const f = Deno.openSync(path);
    try {
      const size = f.statSync().size;
      // One byte before the last 16 KB too: it tells whether their first line is whole.
      const len = Math.min(size, 16_385);
      f.seekSync(size - len, Deno.SeekMode.Start);
      const buf = new Uint8Array(len);
      let read = 0;
      while (read < len) {
        const r = f.readSync(buf.subarray(read));
        if (r === null) break;
        read += r;
      }
      const lines = new TextDecoder().decode(buf.subarray(0, read)).split("\n");
      if (lines.at(-1) === "") lines.pop();
      // Read from inside the file: the first line (up to the first newline) is either the byte
      // before the window or a line cut at its start, maybe through a secret (then unmasked).
      if (len < size && lines.length === 1) {
        // No line starts in the window (the last one is longer): its end, marked as cut, never
        // its start, where a secret may be cut (the window holds 16 KB of it, 300 shown).
        return [`... ${escaped(redact(lines[0])).slice(-MAX_TAIL_LINE)}`];
      }
      if (len < size) lines.shift();
      return lines.slice(-n).map((l) => printable(redact(l)));
    } finally {
      f.close();
    }
  } catch {
    return [];
  }
}

interface AttemptOutcome {
  status: AttemptStatus;
  code: number | null;
  signal: string | null;
  message?: string;
  logPath?: string;
  /** Retrying cannot help (bad usage or configuration). */
  final?: boolean;
  /** Writes the attempt's end to the history (deferred until the freed slot is refilled). */
  record?: () => void;
}

function decide(job: JobSpec, deps: string[], status: Map<string, JobStatus>) {
  if (job.trigger === "all_done") return undefined;
  const bad = deps.filter((d) =>
    ["failed", "upstream_failed", "cancelled"].includes(status.get(d)!)
  );
  if (bad.length > 0) {
    return { status: "upstream_failed" as const, message: `not run: ${bad.join(", ")} failed` };
  }
  const skipped = deps.filter((d) => status.get(d) === "skipped");
  if (job.trigger === "all_ok" && skipped.length > 0) {
    return { status: "skipped" as const, message: `skipped: ${skipped.join(", ")} skipped` };
  }
  return undefined;
}

/** Run a plan to completion (or cancellation) and return the per-job results. */
export async function executePlan(
  manifest: Manifest,
  plan: Plan,
  opts: ExecuteOptions,
): Promise<RunResult> {
  const runId = opts.runId ?? newRunId();
  const history = opts.history;
  // An observer's error must not reach the bookkeeping: thrown inside a `hold`, it would roll
  // back the rows of its batch and end the job a second time (its slot freed twice). The run
  // goes on, and executePlan rejects with the first such error once the run is recorded.
  let observerError: { error: unknown } | undefined;
  const emit = (e: RunEvent) => {
    try {
      opts.onEvent?.(e);
    } catch (error) {
      observerError ??= { error };
    }
  };
  const concurrency = opts.concurrency ?? plan.concurrency;
  const grace = manifest.settings.killGraceMs;
  const tailN = opts.tailLines ?? 10;
  const runDir = `${opts.logDir.replace(/\/+$/, "")}/runs/${runId}`;
  const startedAt = Date.now();
  const jobs = new Map(plan.jobs.map((j) => [j.id, j]));

  const status = new Map<string, JobStatus>(plan.jobs.map((j) => [j.id, "pending"]));
  const results = new Map<string, JobResult>();
  const firstStart = new Map<string, number>();
  const attempts = new Map<string, number>();
  const children = new Map<string, Launched>();
  const retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  let waiting = plan.jobs.map((j) => j.id);
  const retryReady: string[] = [];
  let running = 0;
  let cancelled = false;
  /** The runner's own bookkeeping failed: nothing more starts, the running jobs are stopping. */
  let broken: { stopped: Promise<unknown> } | undefined;
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    // The runner's own bookkeeping failed (e.g. the history cannot be written): stop the jobs
    // and end the run with that error rather than go on unrecorded. Nothing starts after it, no
    // waiting job nor a retry: a scheduler lives on, and would otherwise run them unrecorded,
    // beside the pipeline's next fire.
    fail = (e) => {
      if (broken) return;
      for (const t of retryTimers.values()) clearTimeout(t);
      retryTimers.clear();
      broken = { stopped: Promise.all([...children.values()].map((c) => c.stop(grace))) };
      reject(e);
    };
  });

  // A job's command is built when it first starts (its retries reuse it), from the environment
  // the run began with: a bad `${VAR}` reference fails the job, not the runner. Not all up front:
  // that was ~1.7 ms for 50 jobs before the first one could start.
  const commands = new Map<string, JobCommand | Error>();
  const commandOf = (j: JobSpec): JobCommand | Error => {
    let cmd = commands.get(j.id);
    if (cmd === undefined) {
      try {
        cmd = jobCommand(manifest, j, { source: opts.env });
      } catch (e) {
        cmd = e as Error;
      }
      commands.set(j.id, cmd);
    }
    return cmd;
  };

  Deno.mkdirSync(runDir, { recursive: true });
  // Held until the run's end is recorded: while it is held, no one marks the run abandoned.
  const runLock = lockRun(opts.logDir, runId);
  try {
    history.startRun({
      id: runId,
      target: plan.target,
      trigger: opts.trigger ?? "manual",
      jobs: plan.jobs.map((j) => j.id),
      at: startedAt,
      refuseOverlap: opts.refuseOverlap,
      scheduledFor: opts.scheduledFor,
    });
  } catch (e) {
    runLock.close();
    if (e instanceof RunOverlapError) {
      // Refused: it leaves no trace, not even its log folder (made only to hold the lock).
      try {
        Deno.removeSync(runLockPath(opts.logDir, runId));
        Deno.removeSync(runDir);
      } catch { /* an empty folder left behind harms nothing */ }
    }
    throw e;
  }
  try {
    opts.onStart?.();
  } catch (error) {
    observerError ??= { error };
  }

  // Bookkeeping (history rows, events) registered with `later` inside `hold` runs when the
  // outermost `hold` returns: a freed slot gets its next job spawned first, and the records of
  // what just ended and started follow, in that order, in the same synchronous turn (no record
  // can be lost in between). On a loaded machine the runner's own work is what delays the next
  // start, so it comes after.
  const deferred: (() => void)[] = [];
  let holding = 0;
  const later = (fn: () => void) => (holding > 0 ? deferred.push(fn) : fn());
  const hold = (fn: () => void) => {
    holding++;
    try {
      fn();
    } finally {
      if (--holding === 0 && deferred.length > 0) {
        history.batch(() => {
          for (let f = deferred.shift(); f; f = deferred.shift()) f();
        });
      }
    }
  };

  const end = (id: string, st: JobStatus, extra: { message?: string; logPath?: string } = {}) => {
    const at = Date.now();
    status.set(id, st);
    const n = attempts.get(id) ?? 0;
    const durationMs = firstStart.has(id) ? at - firstStart.get(id)! : 0;
    results.set(id, { id, status: st, attempts: n, durationMs, ...extra });
    later(() => {
      history.endJob(runId, id, { status: st, at, attempts: n, message: extra.message });
      const tail = st === "failed" && extra.logPath ? tailOf(extra.logPath, tailN) : undefined;
      emit({ type: "end", job: id, status: st, at, durationMs, attempts: n, ...extra, tail });
    });
  };

  const runAttempt = async (
    job: JobSpec,
    attempt: number,
    firstAttemptAt?: number,
  ): Promise<AttemptOutcome> => {
    const logPath = `${runDir}/${job.id}.${attempt}.log`;
    const at = Date.now();
    const cmd = commandOf(job);
    const recordStart = (command: string) => {
      if (firstAttemptAt !== undefined) history.startJob(runId, job.id, firstAttemptAt);
      history.startAttempt({ runId, job: job.id, attempt, at, logPath, command });
    };
    const failedToStart = (message: string): AttemptOutcome => {
      later(() => {
        recordStart(cmd instanceof Error ? "" : shellLine(cmd.argv));
        history.endAttempt({
          runId,
          job: job.id,
          attempt,
          at,
          durationMs: 0,
          exitCode: null,
          signal: null,
          status: "failed",
          message,
        });
      });
      return { status: "failed", code: null, signal: null, message, logPath };
    };
    if (cmd instanceof Error) {
      const message = redact(cmd.message);
      Deno.writeTextFileSync(logPath, `runner: ${message}\n`);
      // A bad permission entry or an unset variable: a retry would fail the same way.
      return { ...failedToStart(message), final: true };
    }
    let child: Launched;
    try {
      child = launch({
        argv: cmd.argv,
        cwd: cmd.cwd,
        env: {
          ...cmd.env,
          ...attemptEnv(runId, job.id, attempt, {
            deadline: at + job.timeoutMs,
            killGraceMs: grace,
          }),
        },
        logPath,
        ownGroup: cmd.permissions.ffi,
      });
    } catch (e) {
      // Deno names the program when the cwd is missing: say which one is.
      const reason = e instanceof Deno.errors.NotFound && !isDirectory(cmd.cwd)
        ? `its folder ${cmd.cwd} does not exist`
        : (e as Error).message;
      const message = redact(`cannot start: ${reason}`);
      try {
        Deno.writeTextFileSync(logPath, `runner: ${message}\n`);
      } catch { /* the log itself could not be opened: the message says so */ }
      return failedToStart(message);
    }
    later(() => {
      recordStart(shellLine(cmd.argv));
      emit({ type: "start", job: job.id, attempt, at, logPath });
    });
    children.set(job.id, child);
    let timedOut = false;
    // The job's deadline is an AbortSignal.timeout, not a setTimeout: a process's first
    // setTimeout costs ~6 ms here (Deno loads its Node-compatible timers then), an
    // AbortSignal.timeout ~0.3 ms, and a run without timeouts or retries needs no other timer.
    // Its timer keeps the runner alive only while the listener is attached.
    const deadline = AbortSignal.timeout(job.timeoutMs);
    const onDeadline = () => {
      timedOut = true;
      child.stop(grace);
    };
    deadline.addEventListener("abort", onDeadline, { once: true });
    const st = await child.status;
    deadline.removeEventListener("abort", onDeadline);
    // An ffi job's first process can end and leave behind what its native code started (still in
    // the job's process group): those are stopped with it (SIGTERM, SIGKILL after kill_grace),
    // never left running after the job is recorded as ended. (Only when /proc shows some: a job
    // that ended alone costs one look, and without /proc nothing waits for kill_grace.)
    if (cmd.permissions.ffi && child.stopping === undefined && child.groupLeft()) {
      void child.stop(grace);
    }
    // Stopped (timeout, cancel, or the above): an ffi job has ended when all it started has.
    await child.stopping;
    children.delete(job.id);
    await maskLog(logPath);
    const endAt = Date.now();
    let out: AttemptOutcome;
    if (timedOut) {
      out = {
        status: "timed_out",
        code: st.code,
        signal: st.signal,
        message: `timed out after ${formatDuration(job.timeoutMs)}`,
      };
    } else if (cancelled && !st.success && st.code !== EXIT_NOTHING_TO_DO) {
      out = {
        status: "cancelled",
        code: st.code,
        signal: st.signal,
        message: "cancelled (runner shutting down)",
      };
    } else if (st.signal) {
      out = {
        status: "killed",
        code: st.code,
        signal: st.signal,
        message: `killed by ${st.signal}`,
      };
    } else if (st.code === 0) {
      out = { status: "ok", code: 0, signal: null };
    } else if (st.code === EXIT_NOTHING_TO_DO) {
      const line = tailOf(logPath, 20).reverse().find((l) => l.includes("nothing to do"));
      out = {
        status: "nothing_to_do",
        code: st.code,
        signal: null,
        message: line ?? "nothing to do",
      };
    } else if (st.code === EXIT_USAGE) {
      const message = `exit code ${st.code} (bad usage or configuration: not retried)`;
      out = { status: "failed", code: st.code, signal: null, message, final: true };
    } else {
      out = { status: "failed", code: st.code, signal: null, message: `exit code ${st.code}` };
    }
    const final = out;
    out.record = () =>
      history.endAttempt({
        runId,
        job: job.id,
        attempt,
        at: endAt,
        durationMs: endAt - at,
        exitCode: final.code,
        signal: final.signal,
        status: final.status,
        message: final.message,
      });
    out.logPath = logPath;
    return out;
  };

  const start = (id: string) => {
    const job = jobs.get(id)!;
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    running++;
    let firstAttemptAt: number | undefined;
    if (!firstStart.has(id)) {
      firstAttemptAt = Date.now();
      firstStart.set(id, firstAttemptAt);
    }
    status.set(id, "running");
    runAttempt(job, attempt, firstAttemptAt).then((out) =>
      hold(() => {
        running--;
        if (out.record) later(out.record);
        const logPath = out.logPath;
        if (out.status === "ok") end(id, "ok", { logPath });
        else if (out.status === "nothing_to_do") {
          end(id, "skipped", { message: out.message, logPath });
        } else if (out.status === "cancelled" || cancelled) {
          end(id, "cancelled", { message: out.message, logPath });
        } else if (attempt <= job.retries && !out.final) {
          const delayMs = retryDelay(job.retryBackoffMs, attempt);
          later(() =>
            emit({
              type: "retry",
              job: id,
              attempt: attempt + 1,
              at: Date.now(),
              delayMs,
              reason: out.message ?? out.status,
            })
          );
          retryTimers.set(
            id,
            setTimeout(() => {
              retryTimers.delete(id);
              retryReady.push(id);
              hold(pump);
            }, delayMs),
          );
        } else end(id, "failed", { message: out.message, logPath });
        pump();
      }), (e) =>
      hold(() => {
        running--;
        end(id, "failed", { message: `runner error: ${(e as Error).message}` });
        pump();
      })).catch(fail);
  };

  const pump = () => {
    if (broken) return;
    if (cancelled) {
      for (const id of waiting) end(id, "cancelled", { message: "not started: run cancelled" });
      waiting = [];
      for (const [id, t] of retryTimers) {
        clearTimeout(t);
        end(id, "cancelled", { message: "retry cancelled: run cancelled" });
      }
      retryTimers.clear();
      for (const id of retryReady.splice(0)) end(id, "cancelled", { message: "retry cancelled" });
    }
    while (retryReady.length > 0 && running < concurrency) start(retryReady.shift()!);
    let changed = true;
    while (changed) {
      changed = false;
      for (const id of [...waiting]) {
        const deps = plan.deps.get(id)!;
        if (!deps.every((d) => TERMINAL.has(status.get(d)!))) continue;
        const verdict = decide(jobs.get(id)!, deps, status);
        if (verdict) {
          waiting = waiting.filter((w) => w !== id);
          end(id, verdict.status, { message: verdict.message });
          changed = true;
        } else if (running < concurrency) {
          waiting = waiting.filter((w) => w !== id);
          start(id);
        }
      }
    }
    if ([...status.values()].every((s) => TERMINAL.has(s))) finish();
  };

  const onAbort = () => {
    cancelled = true;
    for (const child of children.values()) child.stop(grace);
    hold(pump);
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });

  try {
    hold(pump);
    await done;
  } catch (e) {
    // The jobs get kill_grace to stop, and the run's lock is held until they have.
    await broken?.stopped;
    runLock.close(); // the run stays `running`, and the next look marks it abandoned
    throw e;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }

  const endedAt = Date.now();
  const list = plan.jobs.map((j) => results.get(j.id)!);
  const runStatus: RunStatus = cancelled
    ? "cancelled"
    : list.some((r) => r.status === "failed" || r.status === "upstream_failed")
    ? "failed"
    : "ok";
  const counts = summaryCounts(list);
  try {
    history.endRun(runId, runStatus, endedAt, counts);
  } finally {
    runLock.close();
  }
  if (observerError) throw observerError.error;
  return {
    runId,
    target: plan.target,
    status: runStatus,
    startedAt,
    endedAt,
    durationMs: endedAt - startedAt,
    jobs: list,
  };
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** "3 ok, 1 skipped, 1 failed" (only the statuses present, in a fixed order). */
export function summaryCounts(jobs: readonly { status: JobStatus }[]): string {
  const order: JobStatus[] = [
    "ok",
    "skipped",
    "failed",
    "upstream_failed",
    "cancelled",
    "abandoned",
  ];
  return order
    .map((s) => [s, jobs.filter((j) => j.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(", ");
}
