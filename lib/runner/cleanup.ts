/**
 * Retention: delete run records and log files older than N days (the original pipeline's last
 * step). Runs still `running` are never touched. Besides each old run's folder
 * (`<logDir>/runs/<run-id>/`), what is older than the cutoff (modification time) goes too: any
 * file under `runs/` (logs of runs whose records are gone) and, anywhere in the log directory,
 * log files by name (`*.log`, and rotated ones: `*.log.1`, `*.log.gz`, ...: other tools' logs,
 * the crontab's cron.log). Nothing else is touched: the history database, the lock files
 * (`*.lock`: the scheduler's, and those of the README's crontab, `flock -n logs/.pipelines.lock`),
 * nor files that are no logs, which a log directory pointed at a shared folder may hold. A folder
 * without the run history (`runs.sqlite`) is no runner's log directory: nothing there is deleted.
 */
import { MAX_RETENTION_DAYS } from "../config/config.ts";
import { History, historyPath } from "./history.ts";
import { schedulerLockPath } from "./scheduler_lock.ts";

export interface CleanupResult {
  cutoff: Date;
  runsDeleted: number;
  filesDeleted: number;
  dirsDeleted: number;
  /** The folder holds no run history: it is no runner's log directory, nothing was deleted. */
  noHistory?: true;
}

/** A log file by its name: `x.log`, or rotated (`x.log.1`, `x.log.gz`, `x.log.2026-11-01`). */
const LOG_FILE = /\.log(\.[^/]+)?$/;

function walk(dir: string, visit: (path: string, info: Deno.FileInfo) => void) {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const e of entries) {
    const path = `${dir}/${e.name}`;
    const info = Deno.lstatSync(path);
    if (info.isDirectory) walk(path, visit);
    visit(path, info);
  }
}

/** Delete what is older than `retentionDays` before `now`. `dryRun` only counts. */
export function cleanup(
  logDir: string,
  retentionDays: number,
  opts: { now?: Date; dryRun?: boolean } = {},
): CleanupResult {
  // Far longer would crash later with an unhelpful "Invalid time value" (see MAX_RETENTION_DAYS).
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_RETENTION_DAYS) {
    throw new RangeError(
      `retention must be an integer between 1 and ${MAX_RETENTION_DAYS} days, got ${retentionDays}`,
    );
  }
  const dir = logDir.replace(/\/+$/, "");
  const now = opts.now ?? new Date();
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const result: CleanupResult = { cutoff, runsDeleted: 0, filesDeleted: 0, dirsDeleted: 0 };
  const dbPath = historyPath(dir);
  // The running scheduler's lock file is as old as the scheduler: deleting it would let a second
  // scheduler start next to it.
  const keep = new Set([dbPath, `${dbPath}-wal`, `${dbPath}-shm`, schedulerLockPath(dir)]);
  // Likewise the crontab's `flock -n logs/.full.lock` files: flock never changes their mtime, so
  // they look old while held, and once deleted the next cron start locks a new file: overlap.
  const topLock = (path: string) => path.lastIndexOf("/") === dir.length && path.endsWith(".lock");
  const live = new Set<string>();

  // Paths deleted (or, in a dry run, that would be): a folder whose entries are all gone is empty.
  const gone = new Set<string>();
  const remove = (path: string, isDir: boolean) => {
    if (!opts.dryRun) Deno.removeSync(path);
    gone.add(path);
    if (isDir) result.dirsDeleted++;
    else result.filesDeleted++;
  };
  const emptied = (dir: string) =>
    [...Deno.readDirSync(dir)].every((e) => gone.has(`${dir}/${e.name}`));
  const anyGoneUnder = (dir: string) => [...gone].some((g) => g.startsWith(`${dir}/`));

  try {
    Deno.statSync(dbPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { ...result, noHistory: true };
    throw e;
  }
  const history = new History(dbPath);
  try {
    const old = history.finishedBefore(cutoff);
    // Records first: a cleanup stopped half-way leaves old files (swept by age next time),
    // never a record pointing at a deleted log.
    result.runsDeleted = opts.dryRun ? old.length : history.deleteRuns(old.map((r) => r.id));
    for (const run of old) {
      const runDir = `${dir}/runs/${run.id}`;
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(runDir);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        throw e;
      }
      // A link in its place (or a file) goes itself: what it points to is not the run's.
      if (info.isDirectory) walk(runDir, (path, i) => remove(path, i.isDirectory));
      remove(runDir, info.isDirectory);
    }
    // Folders of runs still running are never swept by age below.
    for (const r of history.listRuns(1_000_000)) {
      if (r.status === "running") live.add(`${dir}/runs/${r.id}`);
    }
    // Other old logs under the log directory (bottom-up, so emptied folders go too): anything in
    // runs/, log files by name elsewhere.
    const runsDir = `${dir}/runs`;
    walk(dir, (path, info) => {
      if (gone.has(path) || keep.has(path) || (!info.isDirectory && topLock(path))) return;
      if ([...live].some((l) => path === l || path.startsWith(`${l}/`))) return;
      const inRuns = path.startsWith(`${runsDir}/`);
      const old = (info.mtime ?? now) < cutoff;
      if (info.isDirectory) {
        if (old && emptied(path) && (inRuns || anyGoneUnder(path))) remove(path, true);
      } else if (old && (inRuns || LOG_FILE.test(path.slice(path.lastIndexOf("/") + 1)))) {
        remove(path, false);
      }
    });
  } finally {
    history.close();
  }
  return result;
}
