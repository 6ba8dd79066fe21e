/**
 * Each batch load's own folder under the temporary folder (default var/tmp), for its S3 downloads
 * and the copies loadFiles writes of files it screens (load.ts, screenGroup), and the removal of
 * the folders of runs that ended without removing theirs (SIGKILL, a crash, the machine going
 * down): a run removes its folder when it ends, the next run removes what a dead one left.
 *
 * A run's folder is `batch_load-<pid>-<random>` (the pid is for people; nothing relies on it).
 * Whether its run is alive is told by a lock: the run holds an exclusive flock on its folder
 * (opened read-only) for as long as it runs, and the kernel releases it when the process ends,
 * however it ends. A folder whose lock can be taken (tryLock) belongs to no live process and is
 * removed; one whose lock is held is left alone. Sweeping, and creating a folder and taking its
 * lock, both happen under a short exclusive flock of the temporary folder itself, so a sweep never
 * finds a live run's folder before its lock is taken. Nothing else is ever removed: not a file,
 * nor a folder of another name (downloads of releases before run folders, `s3_*` and
 * `egx_quotes_*` directly under var/tmp, can be removed by hand while no batch_load runs).
 *
 * Why not a pid check (`/proc/<pid>` alive): a dead run's pid given to another process would keep
 * its leftovers, a run in another pid namespace (a container sharing var/) would look dead and
 * lose its downloads while it loads them, and it needs read access to /proc. flock locks are seen
 * by every process of the machine on a local filesystem; on a network filesystem (NFS) they may
 * not be shared between machines, so two machines must not share one temporary folder.
 */

const PREFIX = "batch_load-";

/** A run's own folder, locked while the run lives. */
export interface RunFolder {
  readonly path: string;
  /** Folders of dead runs removed when this one was made. */
  readonly removed: string[];
  /** Remove the folder and everything in it, and release its lock. */
  close(): Promise<void>;
}

/** Run `fn` holding the exclusive lock of `tmpDir` itself (created if missing). */
async function holdingFolderLock<T>(tmpDir: string, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(tmpDir, { recursive: true });
  const dir = await Deno.open(tmpDir, { read: true });
  try {
    await dir.lock(true);
    return await fn();
  } finally {
    dir.close(); // releases the lock
  }
}

/** Told why a run folder was left (e.g. another user's: it cannot be opened, let alone removed). */
export type SweepWarning = (message: string) => void;

const warnToStderr: SweepWarning = (m) => console.warn(m);

/**
 * Under the folder's lock: remove every run folder whose lock no process holds. A folder that
 * cannot be opened, locked or removed (another user's run, a read-only mount) is left and named
 * through `warn`: leftovers never stop a run.
 */
async function sweep(tmpDir: string, warn: SweepWarning): Promise<string[]> {
  const removed: string[] = [];
  for await (const e of Deno.readDir(tmpDir)) {
    if (!e.isDirectory || !e.name.startsWith(PREFIX)) continue;
    const path = `${tmpDir}/${e.name}`;
    let run: Deno.FsFile;
    try {
      run = await Deno.open(path, { read: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) { // NotFound: its run just removed it
        warn(`left ${path}: cannot check whether its run is alive: ${(err as Error).message}`);
      }
      continue;
    }
    try {
      if (!await run.tryLock(true)) continue; // its run is alive
      await Deno.remove(path, { recursive: true });
      removed.push(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        warn(`left ${path} of a run no longer running: ${(err as Error).message}`);
      }
    } finally {
      run.close();
    }
  }
  return removed;
}

/**
 * Remove the folders dead runs left in `tmpDir`; returns their paths. A missing `tmpDir` has
 * none (and is not created).
 */
export async function removeDeadRuns(
  tmpDir: string,
  warn: SweepWarning = warnToStderr,
): Promise<string[]> {
  try {
    await Deno.stat(tmpDir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return await holdingFolderLock(tmpDir, () => sweep(tmpDir, warn));
}

/**
 * This run's folder under `tmpDir` (created if missing), locked until `close`; the folders of dead
 * runs are removed first.
 */
export async function openRunFolder(
  tmpDir: string,
  warn: SweepWarning = warnToStderr,
): Promise<RunFolder> {
  try {
    return await makeRunFolder(tmpDir, warn);
  } catch (e) {
    const message = (e as Error).message;
    throw new Error(
      `cannot make a run folder in ${tmpDir} (the temporary folder, --tmp-dir): ${message}`,
      { cause: e },
    );
  }
}

function makeRunFolder(tmpDir: string, warn: SweepWarning): Promise<RunFolder> {
  return holdingFolderLock(tmpDir, async () => {
    const removed = await sweep(tmpDir, warn);
    const path = await Deno.makeTempDir({ dir: tmpDir, prefix: `${PREFIX}${Deno.pid}-` });
    const lock = await Deno.open(path, { read: true });
    try {
      await lock.lock(true);
    } catch (e) {
      lock.close();
      await Deno.remove(path, { recursive: true }).catch(() => {});
      throw e;
    }
    return {
      path,
      removed,
      // Never throws (it runs in a finally: the run's own outcome or error comes first); a
      // folder it cannot remove is unlocked, and the next run's sweep removes it.
      close: async () => {
        try {
          await Deno.remove(path, { recursive: true });
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) {
            warn(`left ${path}: ${(err as Error).message} (the next run removes it)`);
          }
        } finally {
          lock.close();
        }
      },
    };
  });
}
