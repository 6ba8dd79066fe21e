/**
 * Batch loading into the Snowflake warehouse, against the local Snowflake-protocol server
 * (fakesnow, see tests/support/snowflake_server.ts): the same validation (DuckDB staging), then
 * MERGE into the OPERATIONAL tables; every statement sent is checked with a Snowflake parser.
 */
import assert from "node:assert/strict";
import { loadFiles } from "../lib/ingest/load.ts";
import { validateData } from "../lib/ingest/validate.ts";
import { SnowflakeWarehouse } from "../lib/warehouse/snowflake.ts";
import { snowflakeErrors, snowflakeTestConfig } from "./support/snowflake_server.ts";
import { localFile, withTempWarehouse } from "./support/temp_warehouse.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SAMPLE = `${ROOT}data/sample`;
const DATA = `${ROOT}tests/testdata/ingest`;

Deno.test("files load into Snowflake with the same checks, quarantine and upserts as DuckDB", async () => {
  const sent: string[] = [];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { onStatement: (sql) => sent.push(sql) });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    const files = [
      localFile(`${SAMPLE}/companies.csv`, "companies.csv"),
      localFile(`${DATA}/bad/daily_bad_rows.csv`, "bad/daily_bad_rows.csv"),
      localFile(`${DATA}/bars_1m/COMI.csv`, "bars_1m/COMI.csv"),
      localFile(`${DATA}/exports/COMI Historical Data.csv`, "exports/COMI Historical Data.csv"),
      localFile(`${DATA}/exports/mystery.csv`, "exports/mystery.csv"),
    ];
    const out = await loadFiles(sf, files);
    assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded]), [
      ["exports/mystery.csv", "FAILED", 0, 0],
      ["companies.csv", "LOADED", 223, 223],
      ["bad/daily_bad_rows.csv", "LOADED", 15, 2],
      ["bars_1m/COMI.csv", "LOADED", 13, 6],
      ["exports/COMI Historical Data.csv", "LOADED", 4, 2],
    ]);
    const prices = () =>
      sf.query(
        "SELECT TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME " +
          "FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY DATA_SOURCE, TICKER, TRADE_DATE",
      );
    const before = await prices();
    assert.deepEqual(before.map((r) => [r.DATA_SOURCE, r.TICKER, r.TRADE_DATE, r.CLOSE]), [
      ["BARS_1M", "COMI", "2025-03-10", 70.9],
      ["BARS_1M", "COMI", "2025-10-29", 99.2],
      ["BARS_1M", "COMI", "2025-11-02", 99.5],
      ["BATCH_CSV", "ABUK", "2025-07-01", 60.5],
      ["BATCH_CSV", "COMI", "2025-06-29", 81],
      ["INVESTING_EXPORT", "COMI", "2025-06-30", 1071.75],
      ["INVESTING_EXPORT", "COMI", "2025-07-01", 1081.5],
    ]);
    assert.deepEqual(before[1], {
      TICKER: "COMI",
      TRADE_DATE: "2025-10-29",
      DATA_SOURCE: "BARS_1M",
      OPEN: 100,
      HIGH: 101,
      LOW: 99,
      CLOSE: 99.2,
      VOLUME: 4300,
    });
    const q = await sf.query<{ L: number; R: string }>(
      "SELECT LINE_NUMBER AS L, REASON AS R FROM OPERATIONAL.TBL_QUARANTINE " +
        "WHERE FILE_KEY = 'bad/daily_bad_rows.csv' ORDER BY 1",
    );
    assert.equal(q.length, 13);
    assert.deepEqual(q[0], { L: 3, R: "missing close" });
    assert.deepEqual(q[9], { L: 12, R: "unknown ticker ZZZZ" });
    const log = await sf.query(
      "SELECT FILE_KEY, STATUS, ROWS_READ, ROWS_LOADED, ROWS_QUARANTINED " +
        "FROM OPERATIONAL.TBL_LOAD_LOG ORDER BY FILE_KEY",
    );
    assert.deepEqual(log.map((r) => [r.FILE_KEY, r.STATUS, r.ROWS_READ, r.ROWS_QUARANTINED]), [
      ["bad/daily_bad_rows.csv", "LOADED", 15, 13],
      ["bars_1m/COMI.csv", "LOADED", 13, 7],
      ["companies.csv", "LOADED", 223, 0],
      ["exports/COMI Historical Data.csv", "LOADED", 4, 2],
      ["exports/mystery.csv", "FAILED", 0, 0],
    ]);

    // The same files loaded into DuckDB give the same rows, quarantine and load counts.
    const tables = {
      prices: "SELECT TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, " +
        "SOURCE_FILE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY DATA_SOURCE, TICKER, TRADE_DATE",
      bars: "SELECT TICKER, BAR_START, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME " +
        "FROM OPERATIONAL.TBL_INTRADAY_BAR ORDER BY TICKER, BAR_START",
      quarantine: "SELECT FILE_KEY, LINE_NUMBER, REASON, RECORD FROM OPERATIONAL.TBL_QUARANTINE " +
        "ORDER BY FILE_KEY, LINE_NUMBER",
      log: "SELECT FILE_KEY, STATUS, ROWS_READ, ROWS_LOADED, ROWS_QUARANTINED, ERROR " +
        "FROM OPERATIONAL.TBL_LOAD_LOG ORDER BY FILE_KEY",
    };
    await withTempWarehouse(async (duck) => {
      await loadFiles(duck, files);
      for (const [name, sql] of Object.entries(tables)) {
        assert.deepEqual(await sf.query(sql), await duck.query(sql), name);
      }
    });

    // Loading the same content again (new ETags) changes nothing, duplicates included.
    const stamp = () =>
      sf.query(
        "SELECT count(*) AS N, max(UPDATED_AT) AS U FROM OPERATIONAL.TBL_STOCK_PRICE",
      );
    const stamped = await stamp();
    const again = await loadFiles(sf, files.slice(1, 4).map((f) => ({ ...f, etag: "v2" })));
    assert.deepEqual(again.map((o) => o.status), ["LOADED", "LOADED", "LOADED"]);
    assert.deepEqual(await prices(), before);
    assert.deepEqual(await stamp(), stamped);

    const report = await validateData(sf, { asOf: new Date("2025-11-02T13:00:00Z") });
    assert.deepEqual(report.checks.filter((c) => !c.ok), [], report.text);

    // Every statement we sent parses as Snowflake SQL.
    assert.deepEqual([...new Set(sent)].flatMap(snowflakeErrors), []);
    assert.ok(sent.some((s) => s.startsWith("MERGE INTO OPERATIONAL.TBL_INTRADAY_BAR")));
  } finally {
    await sf.close();
  }
});
