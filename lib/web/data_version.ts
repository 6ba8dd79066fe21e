/**
 * A cheap "has the warehouse changed?" check, so the server can cache query results without
 * holding the warehouse open. For DuckDB the version is the size and modification time of the
 * database file and its write-ahead log: every committed write changes one of them, and a stat
 * costs microseconds while opening the file costs milliseconds (and would block writers). For a
 * remote warehouse (Snowflake) the version is a time bucket: results live at most `ttlMs`.
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

/** Version of a DuckDB file: its and its WAL's size and mtime. */
export function duckdbFileVersion(
  path: string,
  opts: { minIntervalMs?: number; now?: () => number } = {},
): DataVersion {
  return throttled(
    async () => `${await statKey(path)}|${await statKey(`${path}.wal`)}`,
    opts.minIntervalMs ?? 200,
    opts.now ?? Date.now,
  );
}

/** Version that changes every `ttlMs` (for warehouses without a local file). */
export function timeBucketVersion(ttlMs: number, now: () => number = Date.now): DataVersion {
  return { current: () => Promise.resolve(`t${Math.floor(now() / ttlMs)}`) };
}

/** The version source that fits a warehouse configuration. */
export function dataVersionFor(wh: WarehouseConfig): DataVersion {
  return wh.kind === "duckdb" ? duckdbFileVersion(wh.path) : timeBucketVersion(30_000);
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
