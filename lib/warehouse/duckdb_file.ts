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
import { ConfigError } from "../config/config.ts";
import { WarehouseBusyError } from "./warehouse.ts";

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
 */
export async function createInstance(path: string): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(path);
  try {
    const conn = await instance.connect();
    try {
      await conn.run("SET GLOBAL TimeZone = 'UTC'");
    } finally {
      conn.closeSync();
    }
  } catch (e) {
    instance.closeSync();
    throw e;
  }
  return instance;
}

function isLockConflict(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.includes("Could not set lock on file") || msg.includes("Conflicting lock is held");
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

/**
 * DuckDB creates a missing file, so "No such file or directory" means a missing folder on the
 * path (read from the message: a job's read permission may not cover the folder to look).
 */
function missingFolder(e: unknown): boolean {
  return /No such file or directory/.test((e as Error)?.message ?? "");
}

async function openWithRetry(path: string, opts: HoldOptions): Promise<DuckDBInstance> {
  const start = performance.now();
  let delay = FIRST_DELAY_MS;
  let reported = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      return await createInstance(path);
    } catch (e) {
      if (!isLockConflict(e)) {
        const message = `cannot open DuckDB file ${path}: ${(e as Error).message}`;
        // A folder that does not exist is a setting to fix (EGX_WAREHOUSE), not worth retrying.
        throw missingFolder(e) ? new ConfigError(message, { cause: e }) : new Error(message, {
          cause: e,
        });
      }
      const waited = performance.now() - start;
      const what = opts.label ? `${opts.label}: ` : "";
      if (waited >= opts.lockTimeoutMs) {
        throw new WarehouseBusyError(
          `${what}DuckDB file ${path} stayed locked by another process for ` +
            `${Math.round(waited / 1000)} s (lock timeout ${opts.lockTimeoutMs / 1000} s)`,
          { cause: e },
        );
      }
      if (!reported && waited >= REPORT_AFTER_MS) {
        reported = true;
        opts.onWait?.(`${what}waiting for DuckDB file ${path}, locked by another process`);
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
