/**
 * Incremental models equal a full refresh, row by row and value by value: two warehouses get the
 * same operational changes (new days, today's bar from the stream updated by a later poll, a
 * back-filled day from a more trusted source, a new ticker, a second source for an old day, a day
 * with no volume); one is built incrementally, the other with --full-refresh, and every
 * incremental model and what depends on it is compared after each step. A deliberately naive model
 * (`TRADE_DATE > max(TRADE_DATE)`, the original filter) is caught by the same comparison.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import type { SqlValue } from "../lib/warehouse/warehouse.ts";
import { loadProject } from "../lib/models/project.ts";
import { runModels } from "../lib/models/run.ts";
import { runTests } from "../lib/models/test_run.ts";
import { AS_OF, copyDir, type FixtureWarehouse, fixtureWarehouse, REPO } from "./models_fixture.ts";

const COMPARED: [string, string][] = [
  ["DWH_SILVER.stg_stock_prices_unified", "TICKER, TRADE_DATE"],
  ["DWH_SILVER.stg_intraday_bars", "TICKER, BAR_START, INTERVAL_MINUTES"],
  ["DWH_GOLD.gold_fct_stock_daily_prices", "TICKER, TRADE_DATE"],
  ["DWH_GOLD.gold_fct_index_performance", "INDEX_CODE, TRADE_DATE"],
  ["DWH_GOLD.vw_market_snapshot", "TICKER"],
  ["DWH_GOLD.vw_top_movers", "TICKER"],
  ["DWH_GOLD.vw_volume_leaders", "TICKER"],
  ["DWH_GOLD.vw_sector_performance", "SECTOR_KEY, TRADE_DATE"],
];

type Step = { name: string; statements: [string, SqlValue[]][] };

const OPERATIONAL = [
  "TBL_COMPANY",
  "TBL_STOCK_PRICE",
  "TBL_INTRADAY_BAR",
  "TBL_INDEX",
  "TBL_INDEX_MEMBERSHIP",
  "TBL_FINANCIAL",
  "TBL_MARKET_STAT",
];

/** Hold back the last three trading days, and give every row the same load time. */
const PREPARE: [string, SqlValue[]][] = [
  [
    "CREATE TABLE main.held_prices AS SELECT * FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TRADE_DATE >= '2025-12-04'",
    [],
  ],
  ["DELETE FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TRADE_DATE >= '2025-12-04'", []],
  [
    "CREATE TABLE main.held_bars AS SELECT * FROM OPERATIONAL.TBL_INTRADAY_BAR WHERE TRADE_DATE >= '2025-12-07'",
    [],
  ],
  ["DELETE FROM OPERATIONAL.TBL_INTRADAY_BAR WHERE TRADE_DATE >= '2025-12-07'", []],
  ...OPERATIONAL.map((t) =>
    [`UPDATE OPERATIONAL.${t} SET UPDATED_AT = '2025-12-03 16:00:00'`, []] as [string, SqlValue[]]
  ),
];

const STEPS: Step[] = [
  {
    name: "three new trading days arrive from files",
    statements: [
      [
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE SELECT * REPLACE (TIMESTAMP '2025-12-08 16:00:00' AS UPDATED_AT) FROM main.held_prices",
        [],
      ],
      [
        "INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR SELECT * REPLACE (TIMESTAMP '2025-12-08 16:00:00' AS UPDATED_AT) FROM main.held_bars",
        [],
      ],
    ],
  },
  {
    name: "the stream's first poll of the next day writes today's bar",
    statements: [
      [
        `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, UPDATED_AT)
         VALUES ('COMI', '2025-12-09', 'STREAMING_API', 117.6, 118.2, 117.1, 118.0, 150000, '2025-12-09 08:05:00'),
                ('ETEL', '2025-12-09', 'STREAMING_API', 59.0, 59.5, 58.8, 59.2, 70000, '2025-12-09 08:05:00')`,
        [],
      ],
      [
        `INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, UPDATED_AT)
         VALUES ('COMI', '2025-12-09 08:00:00', 5, 'STREAMING_API', '2025-12-09', 117.6, 118.2, 117.1, 118.0, 150000, '2025-12-09 08:05:00')`,
        [],
      ],
    ],
  },
  {
    name: "a later poll updates today's bar (same day, new close and volume)",
    statements: [
      [
        `UPDATE OPERATIONAL.TBL_STOCK_PRICE SET HIGH = 120.4, CLOSE = 119.9, VOLUME = 2450000,
           UPDATED_AT = '2025-12-09 10:35:00'
         WHERE TICKER = 'COMI' AND TRADE_DATE = '2025-12-09' AND DATA_SOURCE = 'STREAMING_API'`,
        [],
      ],
      [
        `UPDATE OPERATIONAL.TBL_INTRADAY_BAR SET CLOSE = 118.3, HIGH = 118.4, VOLUME = 160000,
           UPDATED_AT = '2025-12-09 10:35:00'
         WHERE TICKER = 'COMI' AND BAR_START = '2025-12-09 08:00:00'`,
        [],
      ],
    ],
  },
  {
    name: "a back-filled day from a more trusted source replaces an old bar",
    statements: [[
      `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, UPDATED_AT)
       SELECT TICKER, TRADE_DATE, 'BATCH_CSV', OPEN, HIGH * 1.01, LOW, HIGH * 1.005, VOLUME + 1000, TIMESTAMP '2025-12-09 12:00:00'
       FROM OPERATIONAL.TBL_STOCK_PRICE
       WHERE TICKER = 'ETEL' AND DATA_SOURCE = 'BARS_1M' AND TRADE_DATE = (
         SELECT min(TRADE_DATE) FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'ETEL' AND TRADE_DATE >= '2025-10-12')`,
      [],
    ]],
  },
  {
    name: "a listed company starts trading (a new ticker)",
    statements: [[
      `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, UPDATED_AT)
       SELECT 'EGAL', TRADE_DATE, 'BATCH_CSV', OPEN / 2, HIGH / 2, LOW / 2, CLOSE / 2, VOLUME * 3, TIMESTAMP '2025-12-09 13:00:00'
       FROM OPERATIONAL.TBL_STOCK_PRICE
       WHERE TICKER = 'SWDY' AND DATA_SOURCE = 'BARS_1M' AND TRADE_DATE >= '2025-11-01'`,
      [],
    ]],
  },
  {
    name: "an old day of one ticker gets a second, less trusted source",
    statements: [[
      `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, UPDATED_AT)
       SELECT TICKER, TRADE_DATE, 'INVESTING_EXPORT', OPEN, HIGH, LOW, CLOSE, VOLUME, TIMESTAMP '2025-12-09 15:00:00'
       FROM OPERATIONAL.TBL_STOCK_PRICE
       WHERE TICKER = 'HRHO' AND DATA_SOURCE = 'BARS_1M' AND TRADE_DATE = '2025-10-05'`,
      [],
    ]],
  },
  {
    name: 'an Investing.com export with no volume ("-") for today outranks the streamed bar',
    statements: [[
      `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, UPDATED_AT)
       VALUES ('ETEL', '2025-12-09', 'INVESTING_EXPORT', 59.0, 59.6, 58.8, 59.4, NULL, '2025-12-09 16:00:00')`,
      [],
    ]],
  },
  { name: "nothing changed", statements: [] },
];

async function snapshot(fx: FixtureWarehouse): Promise<Record<string, Record<string, SqlValue>[]>> {
  const out: Record<string, Record<string, SqlValue>[]> = {};
  for (const [rel, key] of COMPARED) {
    out[rel] = await fx.wh.query(`SELECT * FROM ${rel} ORDER BY ${key}`);
  }
  return out;
}

/** Differences between two snapshots, described (empty = identical). */
function differences(a: Record<string, Record<string, SqlValue>[]>, b: typeof a): string[] {
  const out: string[] = [];
  for (const [rel] of COMPARED) {
    if (a[rel].length !== b[rel].length) {
      out.push(`${rel}: ${a[rel].length} rows vs ${b[rel].length}`);
      continue;
    }
    for (let i = 0; i < a[rel].length; i++) {
      for (const col of Object.keys(b[rel][i])) {
        if (!Object.is(a[rel][i][col], b[rel][i][col])) {
          out.push(`${rel} row ${i} ${col}: ${a[rel][i][col]} vs ${b[rel][i][col]}`);
        }
      }
    }
  }
  return out;
}

async function apply(fx: FixtureWarehouse, statements: [string, SqlValue[]][]): Promise<void> {
  if (statements.length === 0) return;
  await fx.wh.transaction(async (s) => {
    for (const [sql, params] of statements) await s.execute(sql, params);
  });
}

/** Run the steps on two warehouses (incremental vs full refresh); returns the differences. */
async function scenario(
  root: string,
  onStep?: (step: string, rows: Map<string, number>, inc: FixtureWarehouse) => Promise<void> | void,
) {
  const inc = await fixtureWarehouse();
  const full = await fixtureWarehouse();
  const found: string[] = [];
  try {
    const project = await loadProject(root);
    const build = async (fx: FixtureWarehouse, fullRefresh: boolean) => {
      const r = await runModels(fx.wh, project, {
        asOf: AS_OF,
        targetDir: join(fx.dir, "target"),
        fullRefresh,
      });
      assert(r.ok, JSON.stringify(r.results.filter((x) => x.status !== "success")));
      // Each model's recorded statements are complete in themselves (no parameters): they are
      // shown as what ran, and the models benchmark replays them as they are.
      const placeholders = r.results.flatMap((x) => x.statements.filter((st) => st.includes("?")));
      assertEquals(placeholders, []);
      return r;
    };
    for (const fx of [inc, full]) {
      await apply(fx, PREPARE);
      await build(fx, true);
    }
    for (const step of STEPS) {
      await apply(inc, step.statements);
      await apply(full, step.statements);
      const r = await build(inc, false);
      await build(full, true);
      const modes = r.results.filter((x) => x.materialized === "incremental");
      assert(modes.every((x) => x.mode === "incremental"), `${step.name}: not incremental`);
      await onStep?.(step.name, new Map(modes.map((x) => [x.name, x.rows ?? -1])), inc);
      found.push(
        ...differences(await snapshot(inc), await snapshot(full)).map((d) => `${step.name}: ${d}`),
      );
    }
  } finally {
    await inc.close();
    await full.close();
  }
  return found;
}

Deno.test("incremental models equal a full refresh after new days, a re-polled bar of today, a back-filled day, a new ticker and a second source", async () => {
  const inserted: Record<string, Record<string, number>> = {};
  const diffs = await scenario(REPO, (step, rows) => {
    inserted[step] = Object.fromEntries(rows);
  });
  assertEquals(diffs, []);
  // The runs were really incremental: only what changed was rebuilt.
  assertEquals(inserted, {
    "three new trading days arrive from files": {
      stg_intraday_bars: 1189, // the held-back bars
      stg_stock_prices_unified: 33, // 11 tickers x 3 days
      gold_fct_stock_daily_prices: 1308, // every ticker got new days: all series redone
    },
    "the stream's first poll of the next day writes today's bar": {
      stg_intraday_bars: 1,
      stg_stock_prices_unified: 2,
      gold_fct_stock_daily_prices: 217, // COMI (100 bars) and ETEL (117 bars)
    },
    "a later poll updates today's bar (same day, new close and volume)": {
      stg_intraday_bars: 1,
      stg_stock_prices_unified: 1,
      gold_fct_stock_daily_prices: 100, // only COMI changed
    },
    "a back-filled day from a more trusted source replaces an old bar": {
      stg_intraday_bars: 0,
      stg_stock_prices_unified: 1, // ETEL's old day, now from BATCH_CSV
      gold_fct_stock_daily_prices: 117, // only ETEL changed
    },
    "a listed company starts trading (a new ticker)": {
      stg_intraday_bars: 0,
      stg_stock_prices_unified: 27,
      gold_fct_stock_daily_prices: 27, // only EGAL's new series
    },
    "an old day of one ticker gets a second, less trusted source": {
      stg_intraday_bars: 0,
      stg_stock_prices_unified: 1, // same bar, one more source
      gold_fct_stock_daily_prices: 104, // HRHO alone: its EMAs must equal a full refresh's
    },
    'an Investing.com export with no volume ("-") for today outranks the streamed bar': {
      stg_intraday_bars: 0,
      stg_stock_prices_unified: 1, // ETEL today: INVESTING_EXPORT, VOLUME NULL
      gold_fct_stock_daily_prices: 117, // ETEL alone
    },
    "nothing changed": {
      stg_intraday_bars: 0,
      stg_stock_prices_unified: 0,
      gold_fct_stock_daily_prices: 0,
    },
  });
});

Deno.test("the comparison catches the original incremental filter TRADE_DATE > max(TRADE_DATE)", async () => {
  const root = await Deno.makeTempDir({ prefix: "egx_naive_" });
  try {
    await copyDir(join(REPO, "models"), join(root, "models"));
    const file = join(root, "models/marts/gold_fct_stock_daily_prices.sql");
    const sql = await Deno.readTextFile(file);
    const naive = sql
      .replace("replace_by: [TICKER]", "replace_by: [TICKER, TRADE_DATE]")
      .replace(
        "where p.TICKER in (select TICKER from affected)",
        "where p.TRADE_DATE > (select max(TRADE_DATE) from {{ this }})",
      );
    assert(naive !== sql);
    await Deno.writeTextFile(file, naive);
    // In production there is no full refresh to compare with: the data tests must catch it.
    const caught = new Set<string>();
    const project = await loadProject(root);
    const diffs = await scenario(root, async (step, _rows, inc) => {
      const tests = await runTests(inc.wh, project, {
        asOf: AS_OF,
        targetDir: join(inc.dir, "target"),
        names: ["assert_fct_complete", "assert_fct_series_follows_silver"],
        storeFailures: false,
      });
      for (const r of tests.results) if (r.status !== "pass") caught.add(`${step}: ${r.name}`);
    });
    assert(diffs.length > 0);
    assert(diffs.some((d) => d.includes("MA_7")), diffs.slice(0, 5).join("\n"));
    // New days (the filter's everyday case) pass the key-and-close check: only the series check
    // sees rows computed without the bars before them.
    assertEquals([...caught].slice(0, 3), [
      "three new trading days arrive from files: assert_fct_series_follows_silver",
      "the stream's first poll of the next day writes today's bar: assert_fct_series_follows_silver",
      "a later poll updates today's bar (same day, new close and volume): assert_fct_complete",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
