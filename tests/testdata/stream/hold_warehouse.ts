/**
 * Holds a DuckDB warehouse file in one open transaction for a while, like a long batch load
 * in another process, so the stream consumer finds the warehouse busy.
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-env hold_warehouse.ts PATH HOLD_MS [stdin]
 *
 * Prints "holding" once it has the file. With `stdin`, it lets go when its stdin closes, or after
 * HOLD_MS at the latest.
 */
import { openWarehouse } from "../../../lib/warehouse/warehouse.ts";

if (import.meta.main) {
  const [path, holdMs, until] = Deno.args;
  const wh = await openWarehouse({ kind: "duckdb", path }, { migrate: false, lingerMs: 0 });
  try {
    await wh.transaction(async (s) => {
      await s.query("SELECT COUNT(*) FROM OPERATIONAL.TBL_INTRADAY_BAR");
      console.log("holding");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise((r) => timer = setTimeout(r, Number(holdMs))),
        until === "stdin"
          ? Deno.stdin.readable.pipeTo(new WritableStream())
          : new Promise(() => {}),
      ]);
      clearTimeout(timer);
    });
  } finally {
    await wh.close();
  }
}
