/**
 * Holding a DuckDB database file only while it is used.
 *
 * DuckDB lets one process at a time open a file for writing; a second process fails at once with
 * "Could not set lock on file ... Conflicting lock is held". So every user (a transaction, a read)
 * opens the file, does its work and closes it; a lock conflict is retried with capped exponential
 * backoff and jitter until the deadline or the caller's AbortSignal.
 *
 * Inside one process, users of the same path share one open instance (two instances on one file
 * in one process would corrupt it: file locks are per process). Readers run concurrently on their
 * own connections; writers are serialised. To keep other processes from starving, an instance
 * accepts new users only for `SHARE_WINDOW_MS` after it opened; later arrivals wait for it to
 * close and then compete for the lock like everyone else. A holder may also linger idle for a few
 * milliseconds after its last user (`lingerMs`), so back-to-back transactions of one process (a
 * stream consumer catching up, one batch after another) skip most open/close costs (~25 ms each).
 */
import { DuckDBInstance } from "@duckdb/node-api";
import { dirname } from "node:path";
import { ConfigError } from "../config/config.ts";
import { WarehouseBusyError, WarehouseMissingError } from "./warehouse.ts";

const SHARE_WINDOW_MS = 250;
const FIRST_DELAY_MS = 5;
const MAX_DELAY_MS = 100;
const REPORT_AFTER_MS = 2000;

export interface HoldOptions {
  signal?: AbortSignal;
  label?: string;
  /** Give up with WarehouseBusyError after waiting this long for another process's lock. */
  lockTimeoutMs: number;
  /** Called once when a wait for another process's lock gets long. */
  onWait?: (message: string) => void;
  /** Keep the file open this long after the last user, within the share window (default 0). */
  lingerMs?: number;
  /** A missing file is a WarehouseMissingError before DuckDB would create it (readers). */
  mustExist?: boolean;
}

interface Holder {
  instance: DuckDBInstance;
  users: number;
  openedAt: number;
  /** Tail of the writer queue. */
  writers: Promise<void>;
  closed: Promise<void>;
  markClosed: () => void;
  linger?: ReturnType<typeof setTimeout>;
}

const holders = new Map<string, Holder>();
const opening = new Map<string, Promise<unknown>>();

/**
 * A new instance with timestamps in UTC whatever the host's zone (the TimeZone setting needs
 * the built-in ICU extension, which loads with the instance, so it is set once opened).
 *
 * DuckDB opens an existing data file (`.csv`, `.tsv`, `.json`, `.parquet`, ...) given as the
 * database as an in-memory database with a view of the file: everything written would be lost
 * when it closes. A file path that opened in memory is refused as not a DuckDB database (checked
 * at a path's first open in this process: ~0.5 ms, and the stream consumer and the server open
 * their file again and again).
 */
export async function createInstance(path: string): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(path);
  try {
    const conn = await instance.connect();
    try {
      await conn.run("SET GLOBAL TimeZone = 'UTC'");
      if (path !== ":memory:" && !databaseFiles.has(path)) {
        const main = await conn.runAndReadAll(
          "SELECT path FROM duckdb_databases() WHERE database_name = current_database()",
        );
        if (main.getRows()[0]?.[0] == null) {
          throw notDatabase(path, " (DuckDB would only read it as a data file, in memory)");
        }
        databaseFiles.add(path);
      }
    } finally {
      conn.closeSync();
    }
  } catch (e) {
    instance.closeSync();
    throw e;
  }
  return instance;
}

/** Paths this process has opened as DuckDB database files (not as data files in memory). */
const databaseFiles = new Set<string>();

/** The file at `path` is not a DuckDB database: a setting to fix, the file left as it is. */
function notDatabase(path: string, detail = ""): ConfigError {
  return new ConfigError(
    `DuckDB warehouse file ${path} (EGX_WAREHOUSE) is not a DuckDB database${detail}: point ` +
      "EGX_WAREHOUSE at the warehouse file; this one was left as it is",
  );
}

function isLockConflict(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.includes("Could not set lock on file") || msg.includes("Conflicting lock is held");
}

/** " (PID 123: /usr/bin/deno)": the holder of the lock, as DuckDB's lock error names it. */
function lockHolder(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(msg);
  return m ? ` (PID ${m[2]}: ${m[1]})` : "";
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Wait for `p` (ignoring its outcome) unless `signal` aborts first. */
function settle(p: Promise<unknown>, signal?: AbortSignal): Promise<void> {
  const done = p.then(() => {}, () => {});
  if (!signal) return done;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    done.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/** Does `path` exist? `undefined` when this process may not look (no read permission). */
async function exists(path: string): Promise<boolean | undefined> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    // NotCapable: not ours to look at; anything else (a path through a file, a folder we may
    // not search): DuckDB's open says what it is.
    return e instanceof Deno.errors.NotCapable ? undefined : true;
  }
}

/**
 * Refuse a missing database file (WarehouseMissingError) without creating anything. A process
 * not allowed to look at the file (e.g. `deno task docs`, which may read only data/, given a
 * warehouse elsewhere) asks DuckDB instead: a read-only open creates no file and no `.wal`.
 */
export async function checkFileExists(path: string): Promise<void> {
  const there = await exists(path);
  if (there === false) throw new WarehouseMissingError(path);
  if (there === true || holders.has(path) || opening.has(path)) return;
  try {
    (await DuckDBInstance.create(path, { access_mode: "READ_ONLY" })).closeSync();
  } catch (e) {
    if (/database does not exist/.test((e as Error)?.message ?? "")) {
      throw new WarehouseMissingError(path);
    }
    // Anything else (not a database, a lock held by a writer): the real open reports or waits.
  }
}

/**
 * Why DuckDB could not open `path`, as a ConfigError naming the file when it is a setting to fix
 * (EGX_WAREHOUSE: a file that is not a database, no access, a missing folder) and not worth
 * retrying; undefined for anything else. The file is left as it was: DuckDB writes nothing to a
 * file it cannot open. (A folder's existence is read from DuckDB's message, as a job's read
 * permission may not cover the folder to look.)
 */
async function openProblem(path: string, e: unknown): Promise<ConfigError | undefined> {
  const msg = (e as Error)?.message ?? String(e);
  const file = `DuckDB warehouse file ${path} (EGX_WAREHOUSE)`;
  if (/exists, but it is not a valid DuckDB database file/.test(msg)) return notDatabase(path);
  if (/Could not read enough bytes from file/.test(msg)) {
    return notDatabase(path, ", or a truncated one (it ends before the data its header describes)");
  }
  if (/Is a directory/.test(msg)) {
    return new ConfigError(`${file} is a folder, not a DuckDB database`);
  }
  if (/No such file or directory/.test(msg)) {
    return new ConfigError(
      `cannot create ${file}: its folder ${dirname(path)} does not exist: create the folder, ` +
        "or fix EGX_WAREHOUSE",
    );
  }
  if (/Read-only file system/.test(msg)) {
    return new ConfigError(`${file} cannot be written: read-only file system`);
  }
  if (/Permission denied/.test(msg)) {
    const there = await exists(path);
    if (there === false) {
      return new ConfigError(
        `cannot create ${file}: permission denied in its folder ${dirname(path)}`,
      );
    }
    let readable: boolean | undefined;
    try {
      (await Deno.open(path, { read: true })).close();
      readable = true;
    } catch (e) {
      if (e instanceof Deno.errors.PermissionDenied) readable = false;
    }
    const what = readable === true
      ? "cannot be written"
      : readable === false
      ? "cannot be read"
      : "cannot be opened for reading and writing";
    return new ConfigError(
      `${file} ${what}: permission denied; every command that uses the warehouse needs to ` +
        "read and write it",
    );
  }
  return undefined;
}

async function openWithRetry(path: string, opts: HoldOptions): Promise<DuckDBInstance> {
  const start = performance.now();
  let delay = FIRST_DELAY_MS;
  let reported = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    // Checked at every open: a reader creates no file, even one deleted while it runs.
    if (opts.mustExist && await exists(path) === false) throw new WarehouseMissingError(path);
    try {
      return await createInstance(path);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      if (!isLockConflict(e)) {
        // A setting to fix (EGX_WAREHOUSE), not worth retrying; anything else as DuckDB said it.
        throw await openProblem(path, e) ??
          new Error(`cannot open DuckDB file ${path}: ${(e as Error).message}`, { cause: e });
      }
      const waited = performance.now() - start;
      const what = opts.label ? `${opts.label}: ` : "";
      if (waited >= opts.lockTimeoutMs) {
        throw new WarehouseBusyError(
          `${what}DuckDB file ${path} stayed locked by another process${lockHolder(e)} for ` +
            `${Math.round(waited / 1000)} s (lock timeout ${opts.lockTimeoutMs / 1000} s)`,
          { cause: e },
        );
      }
      if (!reported && waited >= REPORT_AFTER_MS) {
        reported = true;
        opts.onWait?.(
          `${what}waiting for DuckDB file ${path}, locked by another process${lockHolder(e)}`,
        );
      }
      await sleep(delay * (0.5 + Math.random()), opts.signal);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}

async function acquire(path: string, opts: HoldOptions): Promise<Holder> {
  for (;;) {
    opts.signal?.throwIfAborted();
    const h = holders.get(path);
    if (h) {
      if (performance.now() - h.openedAt < SHARE_WINDOW_MS) {
        if (h.linger !== undefined) clearTimeout(h.linger);
        h.linger = undefined;
        h.users++;
        return h;
      }
      await settle(h.closed, opts.signal);
      continue;
    }
    const pending = opening.get(path);
    if (pending) {
      await settle(pending, opts.signal);
      continue;
    }
    const p = openWithRetry(path, opts);
    opening.set(path, p);
    try {
      const instance = await p;
      let markClosed = () => {};
      const closed = new Promise<void>((r) => markClosed = r);
      const holder: Holder = {
        instance,
        users: 1,
        openedAt: performance.now(),
        writers: Promise.resolve(),
        closed,
        markClosed,
      };
      holders.set(path, holder);
      return holder;
    } finally {
      opening.delete(path);
    }
  }
}

function closeHolder(path: string, h: Holder): void {
  if (holders.get(path) === h) holders.delete(path);
  try {
    h.instance.closeSync(); // checkpoints the WAL into the file, then drops the lock
  } finally {
    h.markClosed();
  }
}

function release(path: string, h: Holder, lingerMs: number): void {
  h.users--;
  if (h.users > 0) return;
  const age = performance.now() - h.openedAt;
  if (lingerMs > 0 && age + lingerMs < SHARE_WINDOW_MS) {
    h.linger = setTimeout(() => {
      h.linger = undefined;
      if (h.users === 0) closeHolder(path, h);
    }, lingerMs);
    return;
  }
  closeHolder(path, h);
}

/** Close the file now if it is open and idle (lingering); used when a warehouse closes. */
export function closeIdle(path: string): void {
  const h = holders.get(path);
  if (h && h.users === 0) {
    if (h.linger !== undefined) clearTimeout(h.linger);
    h.linger = undefined;
    closeHolder(path, h);
  }
}

/**
 * Run `fn` with the file open. `write` users run one at a time within this process; readers
 * run alongside them. The file is closed (and its lock released) when the last user finishes.
 */
export async function withFile<T>(
  path: string,
  mode: "read" | "write",
  opts: HoldOptions,
  fn: (instance: DuckDBInstance) => Promise<T>,
): Promise<T> {
  const h = await acquire(path, opts);
  try {
    if (mode === "read") return await fn(h.instance);
    const before = h.writers;
    let done = () => {};
    h.writers = new Promise<void>((r) => done = r);
    try {
      await before;
      return await fn(h.instance);
    } finally {
      done();
    }
  } finally {
    release(path, h, opts.lingerMs ?? 0);
  }
}
