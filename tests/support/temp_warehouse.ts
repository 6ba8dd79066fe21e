/**
 * A DuckDB warehouse file of its own for one test (never the repo's data/egx.duckdb), and landing
 * files as batch_load sees them.
 */
import type { LocalFile } from "../../lib/ingest/load.ts";
import { type OpenOptions, openWarehouse, type Warehouse } from "../../lib/warehouse/warehouse.ts";

/** Run `fn` on a new, migrated DuckDB file in a temporary folder; close and remove it after. */
export async function withTempWarehouse(
  fn: (wh: Warehouse, path: string) => Promise<void>,
  opts: OpenOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "egx_wh_" });
  const path = `${dir}/egx.duckdb`;
  const wh = await openWarehouse({ kind: "duckdb", path }, opts);
  try {
    await fn(wh, path);
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The file at `path` as the landing object `key` (version `etag`). */
export function localFile(path: string, key: string, etag = "v1"): LocalFile {
  return { path, key, etag, size: Deno.statSync(path).size };
}
