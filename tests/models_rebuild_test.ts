/**
 * An incremental model is merged into its table only when the table was built from the model's
 * current definition (OPERATIONAL.TBL_MODEL_BUILD, lib/models/build_record.ts); otherwise it is
 * rebuilt in full, and the run says why. A real DuckDB file in a temporary directory, a small
 * project shaped like stg_intraday_bars (its incremental branch reads a column of `{{ this }}`).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../lib/config/config.ts";
import { loadProject } from "../lib/models/project.ts";
import { type ModelResult, runModels } from "../lib/models/run.ts";
import { openWarehouse, type Warehouse } from "../lib/warehouse/warehouse.ts";
import { AS_OF } from "./models_fixture.ts";

const PROJECT_YML = `name: rebuild
folders:
  staging: {schema: S1, materialized: table}
`;

/** Version 1: no FINGERPRINT column; changed rows found by UPDATED_MS. */
const V1 = `/*---
materialized: incremental
unique_key: ID
---*/
-- Events, one row per ID.
select e.ID, e.V, e.UPDATED_MS
from RAW.EVENTS as e
{% if is_incremental() %}
left join {{ this }} as t on t.ID = e.ID
{% endif %}
where {{ var('as_of_date') }}::DATE >= '2020-01-01'::DATE
{% if is_incremental() %}
  and (t.ID is null or t.UPDATED_MS <> e.UPDATED_MS)
{% endif %}
`;

/** Version 2: new logic for V and a FINGERPRINT column the incremental branch reads from `this`. */
const V2 = `/*---
materialized: incremental
unique_key: ID
---*/
-- Events, one row per ID; FINGERPRINT says which source row a built row saw.
select e.ID, e.V * 2 as V, e.UPDATED_MS, e.UPDATED_MS * 10 + e.V as FINGERPRINT
from RAW.EVENTS as e
{% if is_incremental() %}
left join {{ this }} as t on t.ID = e.ID
{% endif %}
where {{ var('as_of_date') }}::DATE >= '2020-01-01'::DATE
{% if is_incremental() %}
  and (t.ID is null or t.FINGERPRINT <> e.UPDATED_MS * 10 + e.V)
{% endif %}
`;

interface Fixture {
  root: string;
  wh: Warehouse;
  /** Write the model's SQL, run it, return its result (asserting success). */
  run(sql: string, opts?: { asOf?: Date }): Promise<ModelResult>;
  rows(): Promise<unknown[]>;
  close(): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const root = await Deno.makeTempDir({ prefix: "egx_rebuild_" });
  await Deno.mkdir(join(root, "models/staging"), { recursive: true });
  await Deno.writeTextFile(join(root, "models/project.yml"), PROJECT_YML);
  const cfg = loadConfig((k) =>
    ({ EGX_WAREHOUSE: `${root}/w.duckdb` } as Record<string, string>)[k]
  );
  const wh = await openWarehouse(cfg.warehouse);
  await wh.transaction(async (s) => {
    await s.execute("CREATE SCHEMA RAW");
    await s.execute("CREATE TABLE RAW.EVENTS (ID INTEGER, V INTEGER, UPDATED_MS BIGINT)");
    await s.execute("INSERT INTO RAW.EVENTS VALUES (1, 10, 100), (2, 20, 200), (3, 30, 300)");
  });
  return {
    root,
    wh,
    async run(sql, opts = {}) {
      await Deno.writeTextFile(join(root, "models/staging/events.sql"), sql);
      const r = await runModels(wh, await loadProject(root), {
        asOf: opts.asOf ?? AS_OF,
        targetDir: join(root, "target"),
      });
      assert(r.ok, JSON.stringify(r.results));
      return r.results[0];
    },
    rows: () => wh.query("SELECT * FROM S1.events ORDER BY ID"),
    async close() {
      await wh.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

const v2Rows = (events: [number, number, number][]) =>
  events.map(([id, v, ms]) => ({ ID: id, V: 2 * v, UPDATED_MS: ms, FINGERPRINT: ms * 10 + v }));

const summary = (r: ModelResult) => [r.mode, r.reason, r.rows];

Deno.test("an incremental model whose SQL changed (a new column read through this) is rebuilt in full, like a fresh build", async () => {
  const fx = await fixture();
  const fresh = await fixture();
  try {
    assertEquals(summary(await fx.run(V1)), ["full-refresh", "first build", 3]);
    // A changed source row and a new one: merged into the v1 table, they would mix logics.
    await fx.wh.transaction(async (s) => {
      await s.execute("UPDATE RAW.EVENTS SET V = 21, UPDATED_MS = 201 WHERE ID = 2");
      await s.execute("INSERT INTO RAW.EVENTS VALUES (4, 40, 400)");
    });
    const r = await fx.run(V2);
    assertEquals(summary(r), ["full-refresh", "definition changed since the last build", 4]);
    const expected = v2Rows([[1, 10, 100], [2, 21, 201], [3, 30, 300], [4, 40, 400]]);
    assertEquals(await fx.rows(), expected);
    // Exactly what a fresh full build of v2 on the same input gives.
    await fresh.wh.transaction(async (s) => {
      await s.execute("UPDATE RAW.EVENTS SET V = 21, UPDATED_MS = 201 WHERE ID = 2");
      await s.execute("INSERT INTO RAW.EVENTS VALUES (4, 40, 400)");
    });
    assertEquals(summary(await fresh.run(V2)), ["full-refresh", "first build", 4]);
    assertEquals(await fresh.rows(), expected);
    const records = await fx.wh.query(
      "SELECT RELATION_NAME, MODEL_NAME, MATERIALIZED, BUILD_MODE, FINGERPRINT " +
        "FROM OPERATIONAL.TBL_MODEL_BUILD",
    );
    const freshRecords = await fresh.wh.query(
      "SELECT RELATION_NAME, MODEL_NAME, MATERIALIZED, BUILD_MODE, FINGERPRINT " +
        "FROM OPERATIONAL.TBL_MODEL_BUILD",
    );
    assertEquals(records.length, 1);
    assertEquals(records, freshRecords);
    assertEquals(
      [records[0].RELATION_NAME, records[0].MODEL_NAME, records[0].MATERIALIZED],
      ["S1.EVENTS", "events", "incremental"],
    );
    assert(/^[0-9a-f]{64}$/.test(String(records[0].FINGERPRINT)));
  } finally {
    await fx.close();
    await fresh.close();
  }
});

Deno.test("an unchanged definition runs incrementally, also with another as-of date or edited comments", async () => {
  const fx = await fixture();
  try {
    assertEquals(summary(await fx.run(V2)), ["full-refresh", "first build", 3]);
    assertEquals(summary(await fx.run(V2)), ["incremental", undefined, 0]);
    await fx.wh.transaction((s) => s.execute("INSERT INTO RAW.EVENTS VALUES (4, 40, 400)"));
    const nextDay = new Date(AS_OF.getTime() + 86_400_000);
    assertEquals(summary(await fx.run(V2, { asOf: nextDay })), ["incremental", undefined, 1]);
    await fx.wh.transaction((s) => s.execute("UPDATE RAW.EVENTS SET V = 11 WHERE ID = 1"));
    const recommented = V2.replace("-- Events, one row per ID;", "-- One row per event ID;")
      .replace("select e.ID,", "select\n  e.ID,");
    assert(recommented !== V2);
    assertEquals(summary(await fx.run(recommented)), ["incremental", undefined, 1]);
    assertEquals(
      await fx.rows(),
      v2Rows([[1, 11, 100], [2, 20, 200], [3, 30, 300], [4, 40, 400]]),
    );
    const [record] = await fx.wh.query<{ BUILD_MODE: string }>(
      "SELECT BUILD_MODE FROM OPERATIONAL.TBL_MODEL_BUILD WHERE RELATION_NAME = 'S1.EVENTS'",
    );
    assertEquals(record.BUILD_MODE, "incremental");
  } finally {
    await fx.close();
  }
});

Deno.test("a table built before definitions were recorded is rebuilt once, then incremental", async () => {
  const fx = await fixture();
  try {
    assertEquals(summary(await fx.run(V2)), ["full-refresh", "first build", 3]);
    // What an older version left: the table, no record.
    await fx.wh.transaction((s) => s.execute("DELETE FROM OPERATIONAL.TBL_MODEL_BUILD"));
    await fx.wh.transaction((s) => s.execute("UPDATE S1.events SET V = -1"));
    assertEquals(summary(await fx.run(V2)), [
      "full-refresh",
      "no recorded definition (built by an older version)",
      3,
    ]);
    assertEquals(await fx.rows(), v2Rows([[1, 10, 100], [2, 20, 200], [3, 30, 300]]));
    assertEquals(summary(await fx.run(V2)), ["incremental", undefined, 0]);
    assertEquals(await fx.rows(), v2Rows([[1, 10, 100], [2, 20, 200], [3, 30, 300]]));
  } finally {
    await fx.close();
  }
});
