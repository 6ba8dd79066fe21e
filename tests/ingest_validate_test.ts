/** validate_data's quality gate on a real DuckDB file loaded with the bundled sample. */
import assert from "node:assert/strict";
import { loadFiles } from "../lib/ingest/load.ts";
import { dueTradingDay, validateData } from "../lib/ingest/validate.ts";
import type { Warehouse } from "../lib/warehouse/warehouse.ts";
import { localFile, withTempWarehouse } from "./support/temp_warehouse.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SAMPLE = `${ROOT}data/sample`;
const AS_OF = new Date("2025-12-08T12:30:00Z");

function withSample(fn: (wh: Warehouse) => Promise<void>): Promise<void> {
  return withTempWarehouse(async (wh) => {
    const keys = ["companies.csv", "bars_1m/COMI.csv", "bars_1m/ETEL.csv"];
    const out = await loadFiles(wh, keys.map((k) => localFile(`${SAMPLE}/${k}`, k)));
    assert.deepEqual(out.map((o) => o.status), ["LOADED", "LOADED", "LOADED"]);
    await fn(wh);
  });
}

Deno.test("the trading day due at an instant is the last one whose session has closed", () => {
  assert.equal(dueTradingDay(new Date("2025-12-08T12:30:00Z")), "2025-12-08"); // 14:30 Cairo
  assert.equal(dueTradingDay(new Date("2025-12-08T10:00:00Z")), "2025-12-07"); // in session
  assert.equal(dueTradingDay(new Date("2025-12-12T09:00:00Z")), "2025-12-11"); // Friday
  assert.equal(dueTradingDay(new Date("2025-07-04T09:00:00Z")), "2025-07-02"); // Thu closure
  assert.equal(dueTradingDay(new Date("2025-03-10T11:30:00Z")), "2025-03-10"); // Ramadan 13:30
});

Deno.test("the bundled sample passes every data-quality check", async () => {
  await withSample(async (wh) => {
    const r = await validateData(wh, { asOf: AS_OF });
    assert.equal(r.ok, true, r.text);
    assert.equal(
      r.text,
      [
        "validate_data: 8 checks, 0 failed",
        "  PASS  no duplicate companies: 223 companies, each once",
        "  PASS  tickers follow the rule: 227 stored tickers (once per table), each an EGX code",
        "  PASS  no duplicate daily prices: each (ticker, trade date, source) once",
        "  PASS  no duplicate intraday bars: each (ticker, bar start, interval, source) once",
        "  PASS  positive prices: every open, high, low and close > 0 and finite",
        "  PASS  non-negative volume: every volume >= 0",
        "  PASS  recent data present: 2 ticker(s) with prices for 2025-12-08, the last trading " +
        "day closed by " +
        "2025-12-08T12:30:00.000Z",
        "  PASS  row counts reconcile per file: 3 loaded files: read = loaded + quarantined",
      ].join("\n"),
    );
  });
});

Deno.test("recent data counts tickers: a day's bar from a second source is not a second price", async () => {
  await withSample(async (wh) => {
    // The stream's daily bar (STREAMING_API) beside the files' (BARS_1M) for the same day.
    await wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME) SELECT TICKER, TRADE_DATE, 'STREAMING_API', OPEN, HIGH, LOW, " +
          "CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TRADE_DATE = '2025-12-08'",
      );
    });
    const r = await validateData(wh, { asOf: AS_OF });
    assert.equal(r.ok, true, r.text);
    assert.equal(
      r.checks.find((c) => c.name === "recent data present")?.detail,
      "2 ticker(s) with prices for 2025-12-08, the last trading day closed by " +
        "2025-12-08T12:30:00.000Z",
    );
  });
});

Deno.test("duplicates, bad prices, stale data and unreconciled counts each fail the gate", async () => {
  await withSample(async (wh) => {
    await wh.transaction(async (s) => {
      // What a plain INSERT (the original system's bug) or a broken writer would leave behind.
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME) SELECT TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, " +
          "VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'COMI' AND TRADE_DATE = '2025-12-07'",
      );
      await s.execute(
        "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET LOW = 0, VOLUME = -5 " +
          "WHERE TICKER = 'ETEL' AND TRADE_DATE = '2025-12-04'",
      );
      await s.execute(
        "UPDATE OPERATIONAL.TBL_LOAD_LOG SET ROWS_LOADED = ROWS_LOADED - 1 " +
          "WHERE FILE_KEY = 'bars_1m/ETEL.csv'",
      );
    });
    const r = await validateData(wh, { asOf: new Date("2025-12-10T13:00:00Z") });
    assert.equal(r.ok, false);
    assert.deepEqual(r.checks.map((c) => [c.name, c.ok]), [
      ["no duplicate companies", true],
      ["tickers follow the rule", true],
      ["no duplicate daily prices", false],
      ["no duplicate intraday bars", true],
      ["positive prices", false],
      ["non-negative volume", false],
      ["recent data present", false],
      ["row counts reconcile per file", false],
    ]);
    const detail = Object.fromEntries(r.checks.map((c) => [c.name, c.detail]));
    assert.equal(
      detail["no duplicate daily prices"],
      "(ticker, trade date, source) stored more than once: TICKER=COMI TRADE_DATE=2025-12-07 " +
        "DATA_SOURCE=BARS_1M N=2",
    );
    assert.match(
      detail["positive prices"],
      /^prices <= 0 or not finite: TICKER=ETEL TRADE_DATE=2025-12-04 /,
    );
    assert.equal(
      detail["non-negative volume"],
      "volume < 0: TICKER=ETEL TRADE_DATE=2025-12-04 DATA_SOURCE=BARS_1M VOLUME=-5",
    );
    assert.equal(
      detail["recent data present"],
      "no prices for 2025-12-10, the last trading day closed by 2025-12-10T13:00:00.000Z " +
        "(latest stored: 2025-12-08; set EGX_AS_OF=2025-12-08 to judge data as of an earlier " +
        "day, e.g. a copy of the sample)",
    );
    assert.match(
      detail["row counts reconcile per file"],
      /^rows read <> loaded \+ quarantined, or quarantine table disagrees: FILE_KEY=bars_1m\/ETEL\.csv ETAG=v1 ROWS_READ=20542 ROWS_LOADED=20541 ROWS_QUARANTINED=0 IN_QUARANTINE=0$/,
    );
    assert.match(r.text, /^validate_data: 8 checks, 5 failed\n/);
  });
});

Deno.test("NaN and infinite prices in the warehouse fail the positive-prices check", async () => {
  await withSample(async (wh) => {
    // What a writer that does not check (or an older load) could leave: DOUBLE holds them, and
    // NaN compares greater than every number, so `<= 0` alone passed them.
    await wh.transaction(async (s) => {
      await s.execute(
        "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET HIGH = 'nan'::DOUBLE " +
          "WHERE TICKER = 'COMI' AND TRADE_DATE = '2025-12-04'",
      );
      await s.execute(
        "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET CLOSE = 'inf'::DOUBLE " +
          "WHERE TICKER = 'ETEL' AND TRADE_DATE = '2025-12-04'",
      );
    });
    const r = await validateData(wh, { asOf: AS_OF });
    const prices = r.checks.find((c) => c.name === "positive prices")!;
    assert.equal(prices.ok, false);
    assert.equal(
      prices.detail,
      "prices <= 0 or not finite: TICKER=COMI TRADE_DATE=2025-12-04 DATA_SOURCE=BARS_1M " +
        "OPEN=115.03 HIGH=NaN LOW=115.03 CLOSE=116.8; TICKER=ETEL TRADE_DATE=2025-12-04 " +
        "DATA_SOURCE=BARS_1M OPEN=62.46 HIGH=62.57 LOW=60.51 CLOSE=Infinity",
    );
    assert.equal(r.checks.filter((c) => !c.ok).length, 1, r.text);
  });
});

Deno.test("a failing check shows its first five offending rows and how many more", async () => {
  await withSample(async (wh) => {
    await wh.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR SELECT * FROM OPERATIONAL.TBL_INTRADAY_BAR " +
          "WHERE TICKER = 'ETEL' AND TRADE_DATE = '2025-12-08' ORDER BY BAR_START LIMIT 7",
      )
    );
    const r = await validateData(wh, { asOf: AS_OF });
    const bars = r.checks.find((c) => c.name === "no duplicate intraday bars")!;
    assert.equal(bars.ok, false);
    assert.match(
      bars.detail,
      /^\(ticker, bar start, interval, source\) stored more than once: TICKER=ETEL BAR_START=2025-12-08T08:00:00\.000Z INTERVAL_MINUTES=1 DATA_SOURCE=BARS_1M N=2; /,
    );
    assert.equal(bars.detail.match(/TICKER=ETEL/g)?.length, 5);
    assert.ok(bars.detail.endsWith("; and 2 more"), bars.detail);
  });
});
