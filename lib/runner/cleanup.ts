/**
 * Retention: delete run records and log files older than N days (the original pipeline's last
 * step). Runs still `running` are never touched. Besides each old run's folder
 * (`<logDir>/runs/<run-id>/`), any other file under the log directory whose modification time is
 * older than the cutoff goes too (logs of runs whose records are gone, other tools' logs); the
 * history database itself is kept.
 */
import { History, historyPath } from "./history.ts";

export interface CleanupResult {
  cutoff: Date;
  runsDeleted: number;
  filesDeleted: number;
  dirsDeleted: number;
}

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
  const dir = logDir.replace(/\/+$/, "");
  const now = opts.now ?? new Date();
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const result: CleanupResult = { cutoff, runsDeleted: 0, filesDeleted: 0, dirsDeleted: 0 };
  const dbPath = historyPath(dir);
  const keep = new Set([dbPath, `${dbPath}-wal`, `${dbPath}-shm`]);
  const live = new Set<string>();

  let history: History | undefined;
  try {
    Deno.statSync(dbPath);
    history = new History(dbPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    if (history) {
      const old = history.finishedBefore(cutoff);
      for (const run of old) {
        const runDir = `${dir}/runs/${run.id}`;
        walk(runDir, (path, info) => {
          if (!opts.dryRun) Deno.removeSync(path);
          if (info.isDirectory) result.dirsDeleted++;
          else result.filesDeleted++;
        });
        try {
          if (!opts.dryRun) Deno.removeSync(runDir);
          result.dirsDeleted++;
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
      result.runsDeleted = opts.dryRun ? old.length : history.deleteRuns(old.map((r) => r.id));
      // Folders of runs still recorded (and recent or running) are not swept by age below.
      for (const r of history.listRuns(1_000_000)) {
        if (r.status === "running") live.add(`${dir}/runs/${r.id}`);
      }
    }
    // Anything else old under the log directory (bottom-up, so emptied folders go too).
    walk(dir, (path, info) => {
      if (keep.has(path) || [...live].some((l) => path === l || path.startsWith(`${l}/`))) return;
      if (info.isDirectory) {
        const empty = [...Deno.readDirSync(path)].length === 0;
        if (empty && (info.mtime ?? now) < cutoff && !opts.dryRun) {
          Deno.removeSync(path);
          result.dirsDeleted++;
        }
      } else if ((info.mtime ?? now) < cutoff) {
        if (!opts.dryRun) Deno.removeSync(path);
        result.filesDeleted++;
      }
    });
  } finally {
    history?.close();
  }
  return result;
}
