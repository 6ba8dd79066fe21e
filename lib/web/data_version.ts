/**
 * A cheap "has the warehouse changed?" check, so the server can cache query results without
 * holding the warehouse open. For DuckDB the version is the size and modification time of the
 * database file and its write-ahead log: every committed write changes one of them, and a stat
 * costs microseconds while opening the file costs milliseconds (and would block writers). For a
 * remote warehouse (Snowflake) the version is a time bucket: results live at most `ttlMs`.
 * Reading does not change a DuckDB file (measured: open, SELECT, close leaves size and mtime
 * alone); every committed write does, because the writer closes the file (checkpoint).
 */
import type { WarehouseConfig } from "../config/config.ts";

export interface DataVersion {
  /** The current version string; checked at most every `minIntervalMs`, shared by callers. */
  current(): Promise<string>;
}

async function statKey(path: string): Promise<string> {
  try {
    const s = await Deno.stat(path);
    return `${s.size}:${s.mtime?.getTime() ?? 0}`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "-";
    throw e;
  }
}

/**
 * Version of a set of files: each one's size and mtime (a missing file counts as "-"). For
 * DuckDB, pass the database and its `.wal`; the run history (SQLite) likewise.
 */
export function filesVersion(
  paths: readonly string[],
  opts: { minIntervalMs?: number; now?: () => number } = {},
): DataVersion {
  return throttled(
    async () => (await Promise.all(paths.map(statKey))).join("|"),
    opts.minIntervalMs ?? 200,
    opts.now ?? Date.now,
  );
}

/** Version that changes every `ttlMs` (for warehouses without a local file). */
export function timeBucketVersion(ttlMs: number, now: () => number = Date.now): DataVersion {
  return { current: () => Promise.resolve(`t${Math.floor(now() / ttlMs)}`) };
}

/**
 * The version the server caches by: the warehouse's (DuckDB file stat, or a 30 s time bucket
 * for Snowflake) combined with the runner's history file, so pipeline-health answers change
 * when a run is recorded.
 */
export function dataVersionFor(wh: WarehouseConfig, historyFile?: string): DataVersion {
  const extra = historyFile ? [historyFile, `${historyFile}-wal`] : [];
  if (wh.kind === "duckdb") return filesVersion([wh.path, `${wh.path}.wal`, ...extra]);
  const bucket = timeBucketVersion(30_000);
  const files = filesVersion(extra);
  return { current: async () => `${await bucket.current()}|${await files.current()}` };
}

function throttled(read: () => Promise<string>, minIntervalMs: number, now: () => number) {
  let last: { at: number; value: Promise<string> } | undefined;
  return {
    current(): Promise<string> {
      const t = now();
      if (!last || t - last.at >= minIntervalMs) {
        const value = read();
        last = { at: t, value };
        // A failed stat must not stick: the next call reads again.
        value.catch(() => {
          if (last?.value === value) last = undefined;
        });
      }
      return last.value;
    },
  };
}
