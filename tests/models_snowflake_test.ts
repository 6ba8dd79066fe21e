/**
 * The Snowflake side of "one SQL source for both warehouses": the models' Snowflake SQL sent
 * through the Snowflake implementation to a local Snowflake-protocol server (fakesnow, which
 * translates Snowflake SQL with sqlglot into its own DuckDB: an independent transpiler), and the
 * results compared with the DuckDB build of the same input (compiled by polyglot). Every
 * statement sent is checked with polyglot's Snowflake parser.
 *
 * fakesnow is not Snowflake: it lacks `ALTER TABLE ... SWAP WITH` and temporary tables outside
 * its temp schema, so only first builds (create + rename) are exercised here. stg_financials is
 * checked on the quarters of two currencies, with exact values.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Dialect, transpile } from "@polyglot-sql/sdk";
import { loadProject } from "../lib/models/project.ts";
import { runModels } from "../lib/models/run.ts";
import { runTests } from "../lib/models/test_run.ts";
import { SnowflakeWarehouse } from "../lib/warehouse/snowflake.ts";
import type { Row, SqlValue, Warehouse } from "../lib/warehouse/warehouse.ts";
import { join } from "node:path";
import { AS_OF, FIXTURES, fixtureWarehouse, REPO } from "./models_fixture.ts";
import { snowflakeTestConfig } from "./support/snowflake_server.ts";

const SELECT = ["stg_companies", "stg_stock_prices_unified", "gold_fct_stock_daily_prices"];
const TICKERS = ["COMI", "ETEL"];

async function input(): Promise<{ companies: SqlValue[][]; bars: SqlValue[][] }> {
  const lines = (await Deno.readTextFile(FIXTURES + "daily_bars.csv")).trim().split("\n").slice(1);
  const bars = lines.map((l) => l.split(",")).filter((f) => TICKERS.includes(f[0])).map((f) => [
    f[0],
    f[1],
    "BARS_1M",
    Number(f[2]),
    Number(f[3]),
    Number(f[4]),
    Number(f[5]),
    Number(f[6]),
  ]);
  return { companies: [["COMI", "CIB", "Financials"], ["ETEL", "Telecom Egypt", null]], bars };
}

/**
 * Multi-row INSERT ... VALUES with bound parameters (not insertRows: the test server rejects an
 * array bind whose number column mixes whole and fractional values, e.g. 90 and 89.55).
 */
async function fill(wh: Warehouse): Promise<void> {
  const { companies, bars } = await input();
  const insert = async (table: string, cols: string[], rows: SqlValue[][]) => {
    const tuple = `(${cols.map(() => "?").join(", ")})`;
    for (let i = 0; i < rows.length; i += 100) {
      const chunk = rows.slice(i, i + 100);
      await wh.transaction((s) =>
        s.execute(
          `INSERT INTO ${table} (${cols.join(", ")}) VALUES ${chunk.map(() => tuple).join(", ")}`,
          chunk.flat(),
        )
      );
    }
  };
  await insert("OPERATIONAL.TBL_COMPANY", ["TICKER", "COMPANY_NAME", "SECTOR"], companies);
  await insert(
    "OPERATIONAL.TBL_STOCK_PRICE",
    ["TICKER", "TRADE_DATE", "DATA_SOURCE", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
    bars,
  );
}

const QUERY = "SELECT * FROM DWH_GOLD.GOLD_FCT_STOCK_DAILY_PRICES ORDER BY TICKER, TRADE_DATE";

Deno.test("the models' Snowflake SQL builds through the Snowflake driver and gives the DuckDB build's values", async () => {
  const sent: string[] = [];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, {
    onStatement: (sql) => sent.push(sql),
    loginRetries: 0,
  });
  const duck = await fixtureWarehouse({ load: false });
  const target = await Deno.makeTempDir({ prefix: "egx_sf_models_" });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    await fill(sf);
    await fill(duck.wh);
    const project = await loadProject(REPO);
    const first = sent.length;
    const r = await runModels(sf, project, { asOf: AS_OF, targetDir: target, select: SELECT });
    assert(r.ok, JSON.stringify(r.results.filter((x) => x.status !== "success")));
    assertEquals(r.target, "snowflake");
    assertEquals(r.results.map((x) => [x.name, x.rows]), [
      ["stg_companies", 2],
      ["stg_stock_prices_unified", 215],
      ["gold_fct_stock_daily_prices", 215],
    ]);
    // Every statement the engine sent parses as Snowflake SQL.
    for (const sql of sent.slice(first)) {
      const t = transpile(sql, Dialect.Snowflake, Dialect.Snowflake);
      assert(t.success, `${t.error}: ${sql.slice(0, 200)}`);
    }
    const d = await runModels(duck.wh, project, {
      asOf: AS_OF,
      targetDir: duck.targetDir,
      select: SELECT,
    });
    assert(d.ok);
    const a = await sf.query(QUERY);
    const b = await duck.wh.query(QUERY);
    assertEquals(a.length, 215);
    assertEquals(Object.keys(a[0]), Object.keys(b[0]));
    const diffs: string[] = [];
    for (let i = 0; i < a.length; i++) {
      for (const k of Object.keys(b[i]) as (keyof Row)[]) {
        // (A NULL double is null, not NaN: lib/warehouse/snowflake.ts, representNullAsStringNull.)
        const x = a[i][k];
        const y = b[i][k];
        if (k === "SOURCE_UPDATED_AT") continue; // load times differ between the two warehouses
        const same = typeof x === "number" && typeof y === "number"
          ? Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y))
          : x === y;
        if (!same) diffs.push(`${b[i].TICKER} ${b[i].TRADE_DATE} ${String(k)}: ${x} vs ${y}`);
      }
    }
    assertEquals(diffs, []);
  } finally {
    await sf.close();
    await duck.close();
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("stg_financials' Snowflake SQL leaves a TTM sum and a growth over two currencies NULL, as on DuckDB", async () => {
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { loginRetries: 0 });
  const target = await Deno.makeTempDir({ prefix: "egx_sf_fin_" });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    await sf.transaction((s) =>
      s.execute(
        `INSERT INTO OPERATIONAL.TBL_FINANCIAL (TICKER, FISCAL_YEAR, FISCAL_QUARTER, PERIOD_END,
           CURRENCY, REVENUE, NET_INCOME, SHARES_OUTSTANDING, DATA_SOURCE)
         VALUES ('COMI', 2024, 1, '2024-03-31', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 2, '2024-06-30', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 3, '2024-09-30', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 4, '2024-12-31', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2025, 1, '2025-03-31', 'USD', 100, 20, 100, 'TEST')`,
      )
    );
    const project = await loadProject(REPO);
    const r = await runModels(sf, project, {
      asOf: AS_OF,
      targetDir: target,
      select: ["stg_financials"],
    });
    assert(r.ok, JSON.stringify(r.results.filter((x) => x.status !== "success")));
    const rows = await sf.query(
      `SELECT FISCAL_YEAR AS Y, FISCAL_QUARTER AS Q, REVENUE_TTM, EPS_TTM, REVENUE_GROWTH_YOY
       FROM DWH_SILVER.STG_FINANCIALS WHERE FISCAL_QUARTER IN (1, 4) ORDER BY Y, Q`,
    );
    assertEquals(rows.map((x) => [x.Y, x.Q, x.REVENUE_TTM, x.EPS_TTM, x.REVENUE_GROWTH_YOY]), [
      [2024, 1, null, null, null],
      [2024, 4, 20000, 40, null],
      [2025, 1, null, null, null],
    ]);
  } finally {
    await sf.close();
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("a model and a singular test ending in `;` build and run on Snowflake (the `;` is not wrapped into CREATE TABLE AS or the COUNT)", async () => {
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { loginRetries: 0 });
  const root = await Deno.makeTempDir({ prefix: "egx_sf_semi_" });
  const files: Record<string, string> = {
    "models/project.yml": "name: semi\nfolders:\n  staging: {schema: S1, materialized: table}\n",
    "models/staging/a.sql": "select 1 as X -- one row\n;\n",
    "models/tests/no_big_x.sql": "select * from {{ ref('a') }} where X > 1; -- done\n",
  };
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(root, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, path), text);
    }
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    const project = await loadProject(root);
    const targetDir = join(root, "target");
    const r = await runModels(sf, project, { asOf: AS_OF, targetDir });
    assertEquals(r.results.map((x) => [x.name, x.status, x.rows, x.message]), [[
      "a",
      "success",
      1,
      undefined,
    ]]);
    const t = await runTests(sf, project, { asOf: AS_OF, targetDir, storeFailures: false });
    assertEquals(t.results.map((x) => [x.name, x.status, x.message]), [
      ["no_big_x", "pass", undefined],
    ]);
  } finally {
    await sf.close();
    await Deno.remove(root, { recursive: true });
  }
});
