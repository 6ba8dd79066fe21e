/**
 * A second process for the concurrency tests: writes `count` rows, one transaction each, tagged
 * with `who`, into the DuckDB file `path`; or holds the file in one transaction for `holdMs`.
 *
 *   deno run --allow-ffi --allow-read --allow-write writer.ts PATH WHO COUNT [HOLD_MS]
 *
 * Prints "ready" once a hold has the file, and "done N" at the end.
 */
import { openWarehouse } from "../../../lib/warehouse/warehouse.ts";

if (import.meta.main) {
  const [path, who, count, holdMs] = Deno.args;
  const wh = await openWarehouse({ kind: "duckdb", path }, { migrate: false, lingerMs: 0 });
  try {
    if (holdMs !== undefined) {
      await wh.transaction(async (s) => {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET) VALUES (?, 'hold', 0, 1)",
          [who],
        );
        console.log("ready");
        await new Promise((r) => setTimeout(r, Number(holdMs)));
      });
    }
    for (let i = 0; i < Number(count); i++) {
      await wh.transaction((s) =>
        s.execute(
          "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET) VALUES (?, 'rows', ?, ?)",
          [who, i, i + 1],
        )
      );
    }
    console.log(`done ${count}`);
  } finally {
    await wh.close();
  }
}
