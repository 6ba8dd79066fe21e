/**
 * Holds a DuckDB warehouse file in one open transaction for a while, like a long batch load
 * in another process, so the stream consumer finds the warehouse busy.
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-env hold_warehouse.ts PATH HOLD_MS
 *
 * Prints "holding" once it has the file.
 */
import { openWarehouse } from "../../../lib/warehouse/warehouse.ts";

if (import.meta.main) {
  const [path, holdMs] = Deno.args;
  const wh = await openWarehouse({ kind: "duckdb", path }, { migrate: false, lingerMs: 0 });
  try {
    await wh.transaction(async (s) => {
      await s.query("SELECT COUNT(*) FROM OPERATIONAL.TBL_INTRADAY_BAR");
      console.log("holding");
      await new Promise((r) => setTimeout(r, Number(holdMs)));
    });
  } finally {
    await wh.close();
  }
}
