/**
 * Run history in an embedded SQLite file (`node:sqlite`, no service): one row per run, one per
 * job of the run, one per attempt (with its log path). Writes are prepared statements in WAL mode
 * with synchronous=NORMAL; the runner groups the rows of one moment (a job's end and the next
 * job's start) into one transaction with `batch`: one commit writes each changed page once
 * (separate commits made the WAL grow four times as fast, and its checkpoints stalled runs).
 *
 * A run or attempt is `running` only while its runner process lives. The runner finalises its
 * records on every exit path it can catch (success, failure, SIGINT/SIGTERM); a runner killed
 * outright leaves `running` rows that `markStale()` (at every runner start, and in `deno task
 * runs`) turns into `abandoned` because their runner is gone. While a run is running, its runner
 * holds an exclusive lock (flock) on `<logDir>/runs/<run-id>/.runner.lock`, which the kernel
 * releases however the runner ends: a lock that can be taken means a dead runner. That needs only
 * read and write access to the log directory. Without the lock file (runs recorded before it, or
 * a history kept apart from its logs) the runner's pid decides: dead, or now another process (a
 * reboot or a pid wrap-around gave it away; each run records its runner's exact identity). Deno
 * reads /proc only under --allow-all; when neither can be checked, the run is left `running`.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { ConfigError, redact } from "../config/config.ts";

/**
 * `skipped`: a scheduled fire that did not run (an overlap; see History.recordSkipped). A run is
 * never skipped by the runner. The column has no constraint: a runner from before this status
 * reads such a row as any other finished run.
 */
export type RunStatus = "running" | "ok" | "failed" | "cancelled" | "abandoned" | "skipped";
export type JobStatus =
  | "pending"
  | "running"
  | "ok"
  | "skipped"
  | "failed"
  | "upstream_failed"
  | "cancelled"
  | "abandoned";
export type AttemptStatus =
  | "running"
  | "ok"
  | "nothing_to_do"
  | "failed"
  | "timed_out"
  | "killed"
  | "cancelled"
  | "abandoned";

export interface RunRow {
  id: string;
  target: string;
  trigger: string;
  status: RunStatus;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  runner_pid: number;
  runner_host: string;
  message: string | null;
  /** A scheduled run's intended fire time (ISO, UTC), or null (not scheduled, or recorded before). */
  scheduled_for: string | null;
}

export interface JobRow {
  run_id: string;
  job: string;
  seq: number;
  status: JobStatus;
  attempts: number;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  message: string | null;
}

export interface AttemptRow {
  run_id: string;
  job: string;
  attempt: number;
  status: AttemptStatus;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  signal: string | null;
  log_path: string;
  command: string;
  message: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, target TEXT NOT NULL, trigger TEXT NOT NULL, status TEXT NOT NULL,
  started_at TEXT NOT NULL, ended_at TEXT, duration_ms INTEGER,
  runner_pid INTEGER NOT NULL, runner_host TEXT NOT NULL, message TEXT, runner_start TEXT,
  scheduled_for TEXT);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
CREATE TABLE IF NOT EXISTS run_jobs (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, job TEXT NOT NULL,
  seq INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  started_at TEXT, ended_at TEXT, duration_ms INTEGER, message TEXT,
  PRIMARY KEY (run_id, job));
CREATE TABLE IF NOT EXISTS attempts (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, job TEXT NOT NULL,
  attempt INTEGER NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
  duration_ms INTEGER, exit_code INTEGER, signal TEXT, log_path TEXT NOT NULL,
  command TEXT NOT NULL, message TEXT,
  PRIMARY KEY (run_id, job, attempt));
`;

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/**
 * Is process `pid` alive on this machine? Linux /proc; undefined when that cannot be read (no
 * /proc, or Deno without --allow-all, which it requires for /proc).
 */
export function pidAlive(pid: number): boolean | undefined {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return undefined;
  }
  try {
    Deno.statSync("/proc/self");
    return false;
  } catch {
    return undefined;
  }
}

/** The file a runner holds locked while its run `runId` is running. */
export function runLockPath(logDir: string, runId: string): string {
  return `${logDir.replace(/\/+$/, "")}/runs/${runId}/.runner.lock`;
}

/**
 * Take the run lock of a starting run (its folder must exist); closing the file releases it.
 * Throws if another process holds it.
 */
export function lockRun(logDir: string, runId: string): Deno.FsFile {
  const file = Deno.openSync(runLockPath(logDir, runId), { write: true, create: true });
  if (!file.tryLockSync(true)) {
    file.close();
    throw new Error(`run ${runId} is locked by another runner`);
  }
  return file;
}

/** Does a live process hold the run lock at `path`? Undefined without the file (or flock). */
export function runLockHeld(path: string): boolean | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    return !file.tryLockSync(true);
  } catch {
    return undefined;
  } finally {
    file.close(); // releases the lock if it was taken here
  }
}

/**
 * Which process `pid` is, exactly: this boot's id and the process's start time in clock ticks
 * since boot (Linux /proc; undefined when unknown). A pid can be given to another process (after
 * a reboot, or a pid wrap-around); this pair cannot, and no clock step changes it.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 22 (starttime), counted after the command name, which may hold spaces and ")".
    const ticks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    return /^\d+$/.test(ticks ?? "") ? `${boot}:${ticks}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Is the runner of a run still alive? Its pid must be alive and, when the run recorded the
 * runner's identity (runs before it was recorded did not), still be that same process.
 */
export function runnerAlive(
  pid: number,
  identity: string | null | undefined,
): boolean | undefined {
  const alive = pidAlive(pid);
  if (!alive) return alive;
  if (!identity) return true;
  const now = processIdentity(pid);
  return now === undefined || now === identity;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** At most this many shared jobs are named in a RunOverlapError's message. */
const MAX_NAMED_JOBS = 5;

/**
 * A run refused by `startRun` (with `refuseOverlap`) because `run`, still running with its runner
 * alive, has the same target or runs some of its jobs (`shared`, in the refused run's order).
 * Nothing of the refused run was recorded.
 */
export class RunOverlapError extends Error {
  override name = "RunOverlapError";
  constructor(readonly run: RunRow, readonly shared: readonly string[]) {
    const named = shared.slice(0, MAX_NAMED_JOBS).join(", ") +
      (shared.length > MAX_NAMED_JOBS ? ` and ${shared.length - MAX_NAMED_JOBS} more` : "");
    super(
      `run ${run.id} of ${run.target} is still running (runner pid ${run.runner_pid}) and ` +
        (shared.length > 0 ? `runs jobs of this one (${named})` : "has the same target"),
    );
  }
}

export class History {
  readonly host = hostname();
  #db: DatabaseSync;
  #st: Record<string, StatementSync>;
  /** This process's identity (processIdentity; "" when unknown), recorded with its runs. */
  #self: string | undefined;
  #identity(): string | null {
    this.#self ??= processIdentity(Deno.pid) ?? "";
    return this.#self || null;
  }

  constructor(readonly path: string) {
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) Deno.mkdirSync(dir, { recursive: true }); // its error names the folder
    try {
      this.#db = openHistoryDb(path);
    } catch (e) {
      // SQLite's own message ("unable to open database file") names neither the file nor why.
      const why = (e as Error).message;
      const access = (() => {
        try {
          Deno.openSync(path, { read: true, write: true }).close();
          return "";
        } catch (err) {
          return ` (${(err as Error).message})`;
        }
      })();
      throw new Error(`cannot open the run history ${path}: ${why}${access}`, { cause: e });
    }
    const p = (sql: string) => this.#db.prepare(sql);
    this.#st = {
      insertRun: p(
        `INSERT INTO runs (id, target, trigger, status, started_at, runner_pid, runner_host,
           runner_start, scheduled_for) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
      ),
      insertJob: p(`INSERT INTO run_jobs (run_id, job, seq, status) VALUES (?, ?, ?, 'pending')`),
      startJob: p(
        `UPDATE run_jobs SET status = 'running', started_at = coalesce(started_at, ?)
         WHERE run_id = ? AND job = ?`,
      ),
      endJob: p(
        `UPDATE run_jobs SET status = ?, ended_at = ?, attempts = ?, message = ?,
         duration_ms = CASE WHEN started_at IS NULL THEN NULL
           ELSE CAST(round((julianday(?) - julianday(started_at)) * 86400000) AS INTEGER) END
         WHERE run_id = ? AND job = ?`,
      ),
      startAttempt: p(
        `INSERT INTO attempts (run_id, job, attempt, status, started_at, log_path, command)
         VALUES (?, ?, ?, 'running', ?, ?, ?)`,
      ),
      endAttempt: p(
        `UPDATE attempts SET status = ?, ended_at = ?, duration_ms = ?, exit_code = ?, signal = ?,
         message = ? WHERE run_id = ? AND job = ? AND attempt = ?`,
      ),
      insertSkipped: p(
        `INSERT INTO runs (id, target, trigger, status, started_at, ended_at, duration_ms,
           runner_pid, runner_host, runner_start, scheduled_for, message)
         VALUES (?, ?, 'schedule', 'skipped', ?, ?, 0, ?, ?, ?, ?, ?)`,
      ),
      endRun: p(
        `UPDATE runs SET status = ?, ended_at = ?, message = ?,
         duration_ms = CAST(round((julianday(?) - julianday(started_at)) * 86400000) AS INTEGER)
         WHERE id = ?`,
      ),
    };
  }

  /** Mark `running` records whose runner (on this host) is gone as `abandoned`. Returns run ids. */
  markStale(): string[] {
    const rows = this.#db.prepare(
      "SELECT id, runner_pid, runner_start FROM runs WHERE status = 'running' AND runner_host = ?",
    ).all(this.host) as unknown as {
      id: string;
      runner_pid: number;
      runner_start: string | null;
    }[];
    const stale = rows.filter((r) => this.#runnerGone(r));
    const now = iso(Date.now());
    // When the runner died is unknown: the run ends at its last record (so its duration is a
    // lower bound, not the time until someone noticed), and the message says when it was noticed.
    const lastRecord = this.#db.prepare(
      `SELECT max(t) AS t FROM (
         SELECT started_at AS t FROM runs WHERE id = ?1
         UNION ALL SELECT started_at FROM attempts WHERE run_id = ?1
         UNION ALL SELECT ended_at FROM attempts WHERE run_id = ?1
         UNION ALL SELECT ended_at FROM run_jobs WHERE run_id = ?1)`,
    );
    const marked: string[] = [];
    const statusOf = this.#db.prepare("SELECT status FROM runs WHERE id = ?");
    for (const r of stale) {
      this.#tx(() => {
        // Its runner may have ended it since it was read (and then released its lock): an ended
        // run is never overwritten (this transaction holds the write lock, so the check holds).
        if ((statusOf.get(r.id) as { status: string } | undefined)?.status !== "running") return;
        marked.push(r.id);
        const last = (lastRecord.get(r.id) as { t: string }).t;
        const msg = `runner pid ${r.runner_pid} ended without finishing the run ` +
          `(noticed ${now}; its last record is from ${last})`;
        this.#db.prepare(
          `UPDATE attempts SET status = 'abandoned', ended_at = ?, message = ?
           WHERE run_id = ? AND status = 'running'`,
        ).run(last, msg, r.id);
        this.#db.prepare(
          `UPDATE run_jobs SET status = 'abandoned', ended_at = ?, message = ?,
           attempts = (SELECT count(*) FROM attempts a
             WHERE a.run_id = run_jobs.run_id AND a.job = run_jobs.job)
           WHERE run_id = ? AND status IN ('running', 'pending')`,
        ).run(last, msg, r.id);
        this.#st.endRun.run("abandoned", last, msg, last, r.id);
      });
    }
    return marked;
  }

  /**
   * Is the runner of a `running` run (on this host) known to be gone? The run's lock decides when
   * it has one (a lock taken by this process counts as held, so its own runs stay); the pid only
   * without one: a runner with this process's pid is this one (unless in another pid namespace,
   * where the lock is what tells them apart).
   */
  #runnerGone(r: { id: string; runner_pid: number; runner_start?: string | null }): boolean {
    const slash = this.path.lastIndexOf("/");
    const logDir = slash < 0 ? "." : this.path.slice(0, slash) || "/";
    const held = runLockHeld(runLockPath(logDir, r.id));
    if (held !== undefined) return !held;
    return r.runner_pid !== Deno.pid && runnerAlive(r.runner_pid, r.runner_start) === false;
  }

  /**
   * Record a run's start. With `refuseOverlap`, a run of the same target, or sharing one of its
   * jobs, still running on this host throws a RunOverlapError and nothing is recorded. Checked
   * inside the write transaction that inserts the run: of two runs starting at once, the later
   * one sees the earlier. A run whose runner is gone (its lock free) does not count, even when no
   * markStale has marked it yet. A scheduled run records its intended fire time (`scheduledFor`).
   */
  startRun(
    run: {
      id: string;
      target: string;
      trigger: string;
      jobs: string[];
      at: number;
      refuseOverlap?: boolean;
      scheduledFor?: number;
    },
  ) {
    this.#tx(() => {
      if (run.refuseOverlap) {
        const other = this.runningRuns(run.target, run.jobs).find((r) => !this.#runnerGone(r));
        if (other) {
          const theirs = new Set(
            (this.#db.prepare("SELECT job FROM run_jobs WHERE run_id = ?").all(other.id) as {
              job: string;
            }[]).map((j) => j.job),
          );
          throw new RunOverlapError(other, run.jobs.filter((j) => theirs.has(j)));
        }
      }
      this.#st.insertRun.run(
        run.id,
        run.target,
        run.trigger,
        iso(run.at),
        Deno.pid,
        this.host,
        this.#identity(),
        run.scheduledFor === undefined ? null : iso(run.scheduledFor),
      );
      run.jobs.forEach((j, i) => this.#st.insertJob.run(run.id, j, i));
    });
  }
  /**
   * Record a scheduled fire that did not run (skipped for an overlap, or queued and then dropped)
   * as a finished run: status `skipped`, no jobs, started and ended `at` (when that was decided),
   * its intended time and why. Never `running`, so no overlap check or markStale sees it; like any
   * scheduled run it is among the scheduledFires (a restarted scheduler does not fire it again).
   */
  recordSkipped(
    s: { id: string; target: string; at: number; scheduledFor: number; message: string },
  ) {
    const at = iso(s.at);
    this.#st.insertSkipped.run(
      s.id,
      s.target,
      at,
      at,
      Deno.pid,
      this.host,
      this.#identity(),
      iso(s.scheduledFor),
      redact(s.message),
    );
  }
  startJob(runId: string, job: string, at: number) {
    this.#st.startJob.run(iso(at), runId, job);
  }
  endJob(
    runId: string,
    job: string,
    end: { status: JobStatus; at: number; attempts: number; message?: string },
  ) {
    const at = iso(end.at);
    const message = end.message === undefined ? null : redact(end.message);
    this.#st.endJob.run(end.status, at, end.attempts, message, at, runId, job);
  }
  startAttempt(
    a: {
      runId: string;
      job: string;
      attempt: number;
      at: number;
      logPath: string;
      command: string;
    },
  ) {
    // The command holds the expanded args and permissions: a secret could be among them.
    this.#st.startAttempt.run(a.runId, a.job, a.attempt, iso(a.at), a.logPath, redact(a.command));
  }
  endAttempt(
    a: {
      runId: string;
      job: string;
      attempt: number;
      status: AttemptStatus;
      at: number;
      durationMs: number;
      exitCode: number | null;
      signal: string | null;
      message?: string;
    },
  ) {
    this.#st.endAttempt.run(
      a.status,
      iso(a.at),
      Math.round(a.durationMs),
      a.exitCode,
      a.signal,
      a.message === undefined ? null : redact(a.message),
      a.runId,
      a.job,
      a.attempt,
    );
  }
  endRun(runId: string, status: RunStatus, at: number, message?: string) {
    const t = iso(at);
    this.#st.endRun.run(status, t, message === undefined ? null : redact(message), t, runId);
  }

  /** Append a note (e.g. an alert's outcome) to a run's message. */
  noteRun(runId: string, note: string) {
    this.#db.prepare(
      "UPDATE runs SET message = CASE WHEN message IS NULL OR message = '' THEN ? " +
        "ELSE message || '; ' || ? END WHERE id = ?",
    ).run(redact(note), redact(note), runId);
  }

  /**
   * Runs recorded as `running` by a runner on this host, of `target` or of any of `jobs` (a run of
   * a job, or of a pipeline holding one), oldest first. After markStale() their runners are alive
   * (or cannot be checked). Other hosts' runs are left out: whether their runners live cannot be
   * told from here.
   */
  runningRuns(target: string, jobs: readonly string[] = []): RunRow[] {
    return this.#db.prepare(
      "SELECT * FROM runs WHERE status = 'running' AND runner_host = ? AND (target = ? OR EXISTS " +
        "(SELECT 1 FROM run_jobs AS j WHERE j.run_id = runs.id AND j.job IN " +
        "(SELECT value FROM json_each(?)))) ORDER BY started_at, id",
    ).all(this.host, target, JSON.stringify(jobs)) as unknown as RunRow[];
  }

  /**
   * The intended fire times (ms) of `target`'s scheduled runs recorded since `since` (fire time),
   * oldest first, skipped fires included: a restarted scheduler does not fire them again (see
   * runScheduler's firedEarlier).
   */
  scheduledFires(target: string, since: number): number[] {
    return (this.#db.prepare(
      "SELECT scheduled_for FROM runs WHERE target = ? AND trigger = 'schedule' AND " +
        "scheduled_for >= ? ORDER BY scheduled_for",
    ).all(target, iso(since)) as { scheduled_for: string }[]).map((r) =>
      Date.parse(r.scheduled_for)
    );
  }

  /** The most recent runs, newest first. */
  listRuns(limit = 20): RunRow[] {
    return this.#db.prepare("SELECT * FROM runs ORDER BY started_at DESC, id DESC LIMIT ?")
      .all(limit) as unknown as RunRow[];
  }
  /**
   * Each job's latest record that is not pending (from the newest run that ran or decided it),
   * however many runs of other targets came since.
   */
  latestJobs(): JobRow[] {
    return this.#db.prepare(
      `SELECT run_id, job, seq, status, attempts, started_at, ended_at, duration_ms, message
       FROM (SELECT j.*, ROW_NUMBER() OVER (
               PARTITION BY j.job ORDER BY r.started_at DESC, r.id DESC) AS n
             FROM run_jobs j JOIN runs r ON r.id = j.run_id WHERE j.status <> 'pending')
       WHERE n = 1 ORDER BY job`,
    ).all() as unknown as JobRow[];
  }
  hasRun(id: string): boolean {
    return this.#db.prepare("SELECT 1 FROM runs WHERE id = ?").get(id) !== undefined;
  }
  getRun(id: string): { run: RunRow; jobs: JobRow[]; attempts: AttemptRow[] } | undefined {
    const run = this.#db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as unknown as
      | RunRow
      | undefined;
    if (!run) return undefined;
    const jobs = this.#db.prepare("SELECT * FROM run_jobs WHERE run_id = ? ORDER BY seq")
      .all(id) as unknown as JobRow[];
    const attempts = this.#db.prepare(
      "SELECT * FROM attempts WHERE run_id = ? ORDER BY started_at, job, attempt",
    ).all(id) as unknown as AttemptRow[];
    return { run, jobs, attempts };
  }
  /** Runs (not running) that started before `cutoff`: ids and their attempts' log paths. */
  finishedBefore(cutoff: Date): { id: string; logs: string[] }[] {
    const runs = this.#db.prepare(
      "SELECT id FROM runs WHERE started_at < ? AND status <> 'running' ORDER BY started_at",
    ).all(cutoff.toISOString()) as unknown as { id: string }[];
    const logs = this.#db.prepare("SELECT log_path FROM attempts WHERE run_id = ?");
    return runs.map((r) => ({
      id: r.id,
      logs: (logs.all(r.id) as unknown as { log_path: string }[]).map((l) => l.log_path),
    }));
  }
  /**
   * Delete runs (with their jobs and attempts), 500 per transaction, so that a large cleanup
   * never holds the write lock long enough to make a running runner's write wait. Returns the
   * number deleted.
   */
  deleteRuns(ids: readonly string[]): number {
    let n = 0;
    const del = this.#db.prepare("DELETE FROM runs WHERE id = ?");
    for (let i = 0; i < ids.length; i += 500) {
      this.#tx(() => {
        for (const id of ids.slice(i, i + 500)) n += Number(del.run(id).changes);
      });
    }
    return n;
  }

  close() {
    this.#db.close();
  }

  /** Run `fn`'s writes as one transaction (one commit), unless one is already open. */
  batch(fn: () => void) {
    if (this.#db.isTransaction) return fn();
    this.#tx(fn);
  }

  #tx(fn: () => void) {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      fn();
      this.#db.exec("COMMIT");
    } catch (e) {
      // SQLite may have rolled back by itself (e.g. SQLITE_FULL): keep the original error.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
  }
}

/**
 * What useLogDir would say of `logDir`, without creating anything (a dry run): a file where the
 * folder, or one of the folders above it, would be. Other problems (permissions) show at the run.
 */
export function checkLogDir(logDir: string): void {
  for (let dir = logDir.replace(/\/+$/, "") || "/";;) {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(dir);
    } catch (e) {
      const up = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) || "/" : ".";
      const missing = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
      if (!missing || up === dir) return;
      dir = up;
      continue;
    }
    if (st.isDirectory) return;
    const why = dir === logDir.replace(/\/+$/, "") ? "it is a file" : `${dir} is a file`;
    throw new ConfigError(`the log folder ${logDir} (EGX_LOG_DIR) cannot be used: ${why}`);
  }
}

/**
 * Makes the log folder (EGX_LOG_DIR) if needed. A path that cannot be a folder (a file, a folder
 * that cannot be made) is a configuration error: nothing runs, exit 2.
 */
export function useLogDir(logDir: string): void {
  try {
    Deno.mkdirSync(logDir, { recursive: true });
  } catch (e) {
    checkLogDir(logDir); // a file in the way, named
    const why = e instanceof Deno.errors.AlreadyExists ? "it is a file" : (e as Error).message;
    throw new ConfigError(`the log folder ${logDir} (EGX_LOG_DIR) cannot be used: ${why}`);
  }
}

/** The history file inside a log directory. */
export function historyPath(logDir: string): string {
  return `${logDir.replace(/\/+$/, "")}/runs.sqlite`;
}

/** How long opening the history keeps trying while another process holds it locked. */
const OPEN_BUSY_MS = 30_000;

/**
 * The history's database, in WAL mode with its schema, migrated. A write waits up to 30 s for
 * another writer (a cleanup deleting many old runs) rather than failing the run it records; the
 * busy timeout is set first, as switching a new file to WAL and creating the schema take locks
 * too. Runners started together on a new log folder (two crontab entries at the same minute)
 * still met "database is locked" at this point once in a few thousand starts on a loaded CI
 * machine (a path on which SQLite answers busy without waiting; not reproduced here in 120 tries):
 * the whole opening is tried again, every 50 ms, for as long as a write would wait.
 */
function openHistoryDb(path: string): DatabaseSync {
  const deadline = Date.now() + OPEN_BUSY_MS;
  for (;;) {
    const db = new DatabaseSync(path);
    try {
      db.exec(
        "PRAGMA busy_timeout=30000; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; " +
          "PRAGMA foreign_keys=ON;",
      );
      db.exec(SCHEMA);
      migrate(db);
      return db;
    } catch (e) {
      db.close();
      if (!isBusy(e) || Date.now() >= deadline) throw e;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); // a synchronous 50 ms
  }
}

/** SQLITE_BUSY (5) or SQLITE_LOCKED (6), with any extended code. */
function isBusy(e: unknown): boolean {
  const code = (e as { errcode?: number }).errcode;
  if (typeof code === "number") return (code & 0xff) === 5 || (code & 0xff) === 6;
  return /database is locked|database table is locked/.test(String((e as Error)?.message));
}

/**
 * History files made before `runs.runner_start` existed get the column (schema version 1); the
 * manifest cache once kept here (in the log folder, which jobs may write) is dropped (version 2:
 * it lives in the runner's own folder, see manifest_cache.ts); `runs.scheduled_for` is added
 * (version 3).
 */
function migrate(db: DatabaseSync): void {
  const version = () =>
    (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (version() >= 3) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    const cols = db.prepare("PRAGMA table_info(runs)").all() as { name: string }[];
    if (!cols.some((c) => c.name === "runner_start")) {
      db.exec("ALTER TABLE runs ADD COLUMN runner_start TEXT");
    }
    if (!cols.some((c) => c.name === "scheduled_for")) {
      db.exec("ALTER TABLE runs ADD COLUMN scheduled_for TEXT");
    }
    db.exec("DROP TABLE IF EXISTS manifest_cache");
    db.exec("PRAGMA user_version = 3");
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}
