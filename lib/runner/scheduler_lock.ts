/**
 * One scheduler per log directory (= per project): `deno task schedule` holds an exclusive
 * advisory lock (flock) on `<logDir>/scheduler.lock` while it runs, and writes its pid into the
 * file. A second scheduler on the same log directory finds the lock taken and refuses to start,
 * naming the first one's pid; without it both would fire every pipeline (double runs). The kernel
 * releases the lock when its holder dies, however it dies, so a stale file never blocks a start.
 */

/** The lock file inside a log directory (cleanup keeps it). */
export function schedulerLockPath(logDir: string): string {
  return `${logDir.replace(/\/+$/, "")}/scheduler.lock`;
}

/** Another scheduler holds the lock; `pid` is what it wrote (undefined if unreadable). */
export class SchedulerRunningError extends Error {
  constructor(readonly path: string, readonly pid: number | undefined) {
    const who = `pid ${pid ?? "unknown"}, lock ${path}`;
    super(
      `another scheduler is running on this log directory (${who}): not starting a second one` +
        " (it would run every pipeline twice)",
    );
    this.name = "SchedulerRunningError";
  }
}

/**
 * Take the scheduler lock of `logDir` (created if missing) or throw SchedulerRunningError.
 * Keep the returned file open while scheduling; closing it (or exiting) releases the lock.
 */
export function lockScheduler(logDir: string): Deno.FsFile {
  Deno.mkdirSync(logDir, { recursive: true });
  const path = schedulerLockPath(logDir);
  // Not truncated on open: the holder's pid must stay readable until we own the lock.
  const file = Deno.openSync(path, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = file.tryLockSync(true);
    if (!locked) {
      const pid = Number(Deno.readTextFileSync(path).trim());
      throw new SchedulerRunningError(path, Number.isInteger(pid) && pid > 0 ? pid : undefined);
    }
    file.truncateSync(0);
    file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
    return file;
  } catch (e) {
    file.close();
    throw e;
  }
}
