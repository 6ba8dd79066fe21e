/**
 * Batch ingestion into a real DuckDB file: how a file's fields and columns are read. Numbers with
 * commas, whole-number fields, optional columns a file leaves out, header variants.
 */
import assert from "node:assert/strict";
import { loadFiles, type LocalFile } from "../lib/ingest/load.ts";
import type { Warehouse } from "../lib/warehouse/warehouse.ts";
import { localFile, withTempWarehouse } from "./support/temp_warehouse.ts";

const COMPANIES = "ticker,company_name,isin,sector\n" +
  "COMI,Commercial International Bank,EGS60121C018,Financials\n" +
  "SWDY,Elsewedy Electric,EGS3G0Z1C014,Industrials\n";

/**
 * Load each step's files (name -> content) in turn, a new folder per step, into a new warehouse
 * that lists COMI and SWDY, running `check` on it after each step (numbered from 0). Returns every
 * file's outcome, by step and key.
 */
async function loadSteps(
  steps: Record<string, string>[],
  check: (wh: Warehouse, step: number) => Promise<void>,
): Promise<string[][]> {
  const dir = await Deno.makeTempDir({ prefix: "egx_fields_" });
  const outcomes: string[][] = [];
  try {
    await withTempWarehouse(async (wh) => {
      await Deno.writeTextFile(`${dir}/companies.csv`, COMPANIES);
      await loadFiles(wh, [localFile(`${dir}/companies.csv`, "companies.csv")]);
      for (const [i, files] of steps.entries()) {
        const batch: LocalFile[] = [];
        for (const [key, text] of Object.entries(files)) {
          const path = `${dir}/${i}/${key}`;
          await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
          await Deno.writeTextFile(path, text);
          batch.push(localFile(path, key));
        }
        const out = await loadFiles(wh, batch, { asOf: new Date("2025-12-10T12:00:00Z") });
        // (In key order: the order files load in is not what these tests are about.)
        outcomes.push(
          ...out.sort((a, b) => a.key < b.key ? -1 : 1).map((o) =>
            [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined, o.error ?? ""].map(
              String,
            )
          ),
        );
        await check(wh, i);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return outcomes;
}

/** The quarantine: file, line and reason, in order. */
const quarantined = (wh: Warehouse) =>
  wh.query(
    "SELECT FILE_KEY AS F, LINE_NUMBER AS L, REASON AS R FROM OPERATIONAL.TBL_QUARANTINE " +
      "ORDER BY 1, 2",
  );

Deno.test("a comma is a thousands separator only in a well-formed grouped number; any other makes the value unparsable", async () => {
  const investing = '"Date","Price","Open","High","Low","Vol.","Change %"\n' +
    '"12/08/2025","10,5","10,2","11,0","9,8","1.2M","1,2%"\n' +
    '"12/07/2025","1,0,3","100","110","90","1.2M","1%"\n' +
    '"12/04/2025","1,003.5","1,000","1,010","990","1,234.5K","1%"\n' +
    '"12/03/2025","100","100","100","100",",5K","1%"\n';
  const outcomes = await loadSteps([{
    "COMI Historical Data.csv": investing,
    "financials.csv": "ticker,fiscal_year,fiscal_quarter,period_end,revenue,eps\n" +
      'COMI,2024,4,2024-12-31,"1,0",1\n' +
      'SWDY,2024,4,2024-12-31,"-12,345,678.25","1,5"\n' +
      'COMI,2024,3,2024-09-30,"1,000",2\n',
    "screener.csv": "ticker,snapshot_date,last_price,change_pct,pe_ratio\n" +
      'COMI,2025-12-08,117.6,"1,2%",7\n' +
      'SWDY,2025-12-08,"1,080.5",1.5%,"12,34"\n' +
      'COMI,2025-12-09,"1,080",-0.5%,"1,234"\n',
    "index_membership.csv": "index_code,ticker,effective_from,effective_to,weight\n" +
      'EGX30,COMI,2025-01-01,,"0,05"\n' +
      "EGX30,SWDY,2025-01-01,,0.05\n",
  }], async (wh) => {
    assert.deepEqual(await quarantined(wh), [
      {
        F: "COMI Historical Data.csv",
        L: 2,
        R: 'unparsable open "10,2"; unparsable high "11,0"; unparsable low "9,8"; ' +
          'unparsable close "10,5"',
      },
      { F: "COMI Historical Data.csv", L: 3, R: 'unparsable close "1,0,3"' },
      { F: "COMI Historical Data.csv", L: 5, R: 'unparsable volume ",5K"' },
      { F: "financials.csv", L: 2, R: "unparsable revenue" },
      { F: "financials.csv", L: 3, R: "unparsable eps" },
      { F: "index_membership.csv", L: 2, R: 'unparsable weight "0,05"' },
      { F: "screener.csv", L: 2, R: "unparsable change_pct" },
      { F: "screener.csv", L: 3, R: "unparsable pe_ratio" },
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE",
      ),
      [{
        TRADE_DATE: "2025-12-04",
        OPEN: 1000,
        HIGH: 1010,
        LOW: 990,
        CLOSE: 1003.5,
        VOLUME: 1_234_500,
      }],
    );
    assert.deepEqual(
      await wh.query("SELECT TICKER, FISCAL_QUARTER, REVENUE FROM OPERATIONAL.TBL_FINANCIAL"),
      [{ TICKER: "COMI", FISCAL_QUARTER: 3, REVENUE: 1000 }],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, LAST_PRICE, CHANGE_PCT, PE_RATIO FROM OPERATIONAL.TBL_MARKET_STAT",
      ),
      [{ TICKER: "COMI", LAST_PRICE: 1080, CHANGE_PCT: -0.5, PE_RATIO: 1234 }],
    );
    assert.deepEqual(
      await wh.query("SELECT TICKER, WEIGHT FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP"),
      [{ TICKER: "SWDY", WEIGHT: 0.05 }],
    );
  });
  assert.deepEqual(outcomes.map((o) => o.slice(0, 5)), [
    ["COMI Historical Data.csv", "LOADED", "4", "1", "3"],
    ["financials.csv", "LOADED", "3", "1", "2"],
    ["index_membership.csv", "LOADED", "2", "1", "1"],
    ["screener.csv", "LOADED", "3", "1", "2"],
  ]);
});

Deno.test("a screener snapshot dated after the as-of date or before 1990 is quarantined, as a trade date is", async () => {
  // A typo's year (2205) was stored and stayed COMI's latest snapshot (gold_dim_company) over
  // every real one loaded after it.
  const outcomes = await loadSteps([{
    "screener.csv": "ticker,snapshot_date,last_price\n" +
      "COMI,2205-12-08,117.6\nSWDY,0001-12-08,80\nCOMI,2025-12-10,118\nSWDY,2025-12-11,81\n",
  }], async (wh) => {
    assert.deepEqual(await quarantined(wh), [
      { F: "screener.csv", L: 2, R: "snapshot date 2205-12-08 is after the as-of date 2025-12-10" },
      {
        F: "screener.csv",
        L: 3,
        R: "snapshot date 0001-12-08 is before the earliest accepted date 1990-01-01",
      },
      { F: "screener.csv", L: 5, R: "snapshot date 2025-12-11 is after the as-of date 2025-12-10" },
    ]);
    assert.deepEqual(
      await wh.query("SELECT TICKER, SNAPSHOT_DATE, LAST_PRICE FROM OPERATIONAL.TBL_MARKET_STAT"),
      [{ TICKER: "COMI", SNAPSHOT_DATE: "2025-12-10", LAST_PRICE: 118 }],
    );
  });
  assert.deepEqual(outcomes, [["screener.csv", "LOADED", "4", "1", "3", ""]]);
});

Deno.test("a fiscal year or quarter is digits only and a share count whole: a decimal is quarantined, not rounded", async () => {
  const outcomes = await loadSteps([{
    "financials.csv": "ticker,fiscal_year,fiscal_quarter,period_end,shares_outstanding\n" +
      "COMI,2024.6,2.5,2025-06-30,100\n" +
      "COMI,2024,1e0,2024-03-31,100\n" +
      "COMI,0x7E8,+2,2024-06-30,100\n" +
      "SWDY,2024,3,2024-09-30,2.5\n" +
      'COMI, 2024 ,04,2024-12-31,"3,050,000,000.0"\n',
  }], async (wh) => {
    assert.deepEqual(await quarantined(wh), [
      {
        F: "financials.csv",
        L: 2,
        R: 'unparsable fiscal_year "2024.6"; unparsable fiscal_quarter "2.5"',
      },
      { F: "financials.csv", L: 3, R: 'unparsable fiscal_quarter "1e0"' },
      {
        F: "financials.csv",
        L: 4,
        R: 'unparsable fiscal_year "0x7E8"; unparsable fiscal_quarter "+2"',
      },
      { F: "financials.csv", L: 5, R: "unparsable shares_outstanding" },
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, FISCAL_YEAR, FISCAL_QUARTER, SHARES_OUTSTANDING FROM OPERATIONAL.TBL_FINANCIAL",
      ),
      [{ TICKER: "COMI", FISCAL_YEAR: 2024, FISCAL_QUARTER: 4, SHARES_OUTSTANDING: 3_050_000_000 }],
    );
  });
  assert.deepEqual(outcomes.map((o) => o.slice(0, 5)), [
    ["financials.csv", "LOADED", "5", "1", "4"],
  ]);
});

Deno.test("a period end after the as-of date, before 1990 or outside its fiscal year (+-1) is quarantined", async () => {
  // As-of 2025-12-10. A fiscal year out of range is not also judged against its period end (line
  // 9: one reason, the year's); a June year-end's FY2024 Q1 ends in 2023, and a source naming a
  // year by its start ends its FY2024 in 2025: both pass.
  const outcomes = await loadSteps([{
    "financials.csv": "ticker,fiscal_year,fiscal_quarter,period_end,revenue\n" +
      "COMI,2025,4,2025-12-31,1\n" +
      "COMI,2024,4,2205-12-31,2\n" +
      "SWDY,1990,1,1989-12-31,3\n" +
      "SWDY,2024,2,2019-06-30,4\n" +
      "COMI,2024,1,2023-09-30,5\n" +
      "SWDY,2024,4,2025-06-30,6\n" +
      "COMI,2025,3,2025-12-10,7\n" +
      "COMI,9999,1,2019-03-31,8\n",
  }], async (wh) => {
    assert.deepEqual(await quarantined(wh), [
      { F: "financials.csv", L: 2, R: "period end 2025-12-31 is after the as-of date 2025-12-10" },
      { F: "financials.csv", L: 3, R: "period end 2205-12-31 is after the as-of date 2025-12-10" },
      {
        F: "financials.csv",
        L: 4,
        R: "period end 1989-12-31 is before the earliest accepted date 1990-01-01",
      },
      {
        F: "financials.csv",
        L: 5,
        R: "period end 2019-06-30 is outside fiscal year 2024 (its quarters end in 2023, 2024 or " +
          "2025)",
      },
      {
        F: "financials.csv",
        L: 9,
        R: "fiscal year 9999 is after 2026, the year after the as-of date 2025-12-10",
      },
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, FISCAL_YEAR, FISCAL_QUARTER, PERIOD_END, REVENUE " +
          "FROM OPERATIONAL.TBL_FINANCIAL ORDER BY REVENUE",
      ),
      [
        {
          TICKER: "COMI",
          FISCAL_YEAR: 2024,
          FISCAL_QUARTER: 1,
          PERIOD_END: "2023-09-30",
          REVENUE: 5,
        },
        {
          TICKER: "SWDY",
          FISCAL_YEAR: 2024,
          FISCAL_QUARTER: 4,
          PERIOD_END: "2025-06-30",
          REVENUE: 6,
        },
        {
          TICKER: "COMI",
          FISCAL_YEAR: 2025,
          FISCAL_QUARTER: 3,
          PERIOD_END: "2025-12-10",
          REVENUE: 7,
        },
      ],
    );
  });
  assert.deepEqual(outcomes, [["financials.csv", "LOADED", "8", "3", "5", ""]]);
});

Deno.test("a fiscal year before 1990 or after the as-of year + 1 is quarantined, as a trade date out of range is", async () => {
  // As-of 2025-12-10: fiscal years 1990..2026 pass (a June year-end's FY2026 has quarters ending
  // in 2025); a typo's year (0001, 9999, 2205) was stored as it was.
  const outcomes = await loadSteps([{
    "financials.csv": "ticker,fiscal_year,fiscal_quarter,period_end,revenue\n" +
      "COMI,0001,4,2024-12-31,1\n" +
      "COMI,9999,4,2024-12-31,2\n" +
      "SWDY,1989,4,1989-12-31,3\n" +
      "SWDY,2027,1,2026-09-30,4\n" +
      "COMI,1990,1,1990-03-31,5\n" +
      "SWDY,2026,1,2025-09-30,6\n" +
      "COMI,2205,2.5,2025-06-30,7\n",
  }], async (wh) => {
    assert.deepEqual(await quarantined(wh), [
      {
        F: "financials.csv",
        L: 2,
        R: "fiscal year 0001 is before the earliest accepted year 1990",
      },
      {
        F: "financials.csv",
        L: 3,
        R: "fiscal year 9999 is after 2026, the year after the as-of date 2025-12-10",
      },
      {
        F: "financials.csv",
        L: 4,
        R: "fiscal year 1989 is before the earliest accepted year 1990; " +
          "period end 1989-12-31 is before the earliest accepted date 1990-01-01",
      },
      {
        F: "financials.csv",
        L: 5,
        R: "fiscal year 2027 is after 2026, the year after the as-of date 2025-12-10; " +
          "period end 2026-09-30 is after the as-of date 2025-12-10",
      },
      {
        F: "financials.csv",
        L: 8,
        R: "fiscal year 2205 is after 2026, the year after the as-of date 2025-12-10; " +
          'unparsable fiscal_quarter "2.5"',
      },
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, FISCAL_YEAR, FISCAL_QUARTER, REVENUE FROM OPERATIONAL.TBL_FINANCIAL " +
          "ORDER BY 1, 2",
      ),
      [
        { TICKER: "COMI", FISCAL_YEAR: 1990, FISCAL_QUARTER: 1, REVENUE: 5 },
        { TICKER: "SWDY", FISCAL_YEAR: 2026, FISCAL_QUARTER: 1, REVENUE: 6 },
      ],
    );
  });
  assert.deepEqual(outcomes, [["financials.csv", "LOADED", "7", "2", "5", ""]]);
});

Deno.test("a time whose UTC offset is outside -12:00..+14:00, or has minutes past 59, is quarantined naming it, not stored shifted", async () => {
  // DuckDB's parsing takes any two-digit offset: +25:00 put line 4's bar a day early (11:02 Cairo
  // on 2025-12-07, a trading day), +99:00 a TradingView day on 2025-12-03.
  const outcomes = await loadSteps([{
    "bars_1m/COMI.csv": "datetime,open,high,low,close,volume\n" +
      "2025-12-08 10:00:00+02:00,10,11,9,10.5,100\n" +
      "2025-12-08 10:01:00+99:00,10,11,9,10.5,101\n" +
      "2025-12-08 10:02:00+25:00,10,11,9,10.5,102\n" +
      "2025-12-08 10:03:00-14:30,10,11,9,10.5,103\n" +
      "2025-12-08 10:04:00+02:60,10,11,9,10.5,104\n" +
      "2025-12-09 00:05:00+14:00,10,11,9,10.5,105\n" +
      "2025-12-07 20:06:00-12:00,10,11,9,10.5,106\n" +
      "2025-12-08 13:37:00+0530,10,11,9,10.5,107\n" +
      "2025-12-08 10:08:00Z,10,11,9,10.5,108\n" +
      "2025-12-08T10:09:00.5+9900,10,11,9,10.5,109\n",
    "EGX_SWDY, 1D.csv": "time,open,high,low,close,Volume\n" +
      "2025-12-07T00:00:00+02:00,80,81,79,80.5,1000\n" +
      "2025-12-08T00:00:00+99:00,80,81,79,80.5,1001\n" +
      "2025-12-09T00:00:00-13:00,80,81,79,80.5,1002\n",
  }], async (wh) => {
    assert.deepEqual(await quarantined(wh), [
      { F: "EGX_SWDY, 1D.csv", L: 3, R: "UTC offset out of range -12:00..+14:00 (+99:00)" },
      { F: "EGX_SWDY, 1D.csv", L: 4, R: "UTC offset out of range -12:00..+14:00 (-13:00)" },
      { F: "bars_1m/COMI.csv", L: 3, R: "UTC offset out of range -12:00..+14:00 (+99:00)" },
      { F: "bars_1m/COMI.csv", L: 4, R: "UTC offset out of range -12:00..+14:00 (+25:00)" },
      { F: "bars_1m/COMI.csv", L: 5, R: "UTC offset out of range -12:00..+14:00 (-14:30)" },
      { F: "bars_1m/COMI.csv", L: 6, R: 'unparsable UTC offset "+02:60"' },
      { F: "bars_1m/COMI.csv", L: 11, R: "UTC offset out of range -12:00..+14:00 (+9900)" },
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT BAR_START AS T, VOLUME AS V FROM OPERATIONAL.TBL_INTRADAY_BAR ORDER BY 1",
      ),
      [
        { T: "2025-12-08T08:00:00.000Z", V: 100 },
        { T: "2025-12-08T08:06:00.000Z", V: 106 },
        { T: "2025-12-08T08:07:00.000Z", V: 107 },
        { T: "2025-12-08T10:05:00.000Z", V: 105 },
        { T: "2025-12-08T10:08:00.000Z", V: 108 },
      ],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, TRADE_DATE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1, 2",
      ),
      [
        { TICKER: "COMI", TRADE_DATE: "2025-12-08", VOLUME: 526 },
        { TICKER: "SWDY", TRADE_DATE: "2025-12-07", VOLUME: 1000 },
      ],
    );
  });
  assert.deepEqual(outcomes, [
    ["EGX_SWDY, 1D.csv", "LOADED", "3", "1", "2", ""],
    ["bars_1m/COMI.csv", "LOADED", "10", "5", "5", ""],
  ]);
});

Deno.test("a header whose column names end in a tab loads: names are trimmed as the format is detected", async () => {
  const outcomes = await loadSteps([{
    "daily.csv": "ticker,trade_date,open,high,low,close,volume\t\n" +
      "COMI,2025-12-08,10,11,9,10.5,100\n",
    "more_companies.csv": "ticker\t,company_name,isin,sector\t\nETEL,Telecom Egypt,EGS48031C016,\n",
    "bars_1m/SWDY.csv":
      " datetime\t,open,high,low,close,volume\t\n2025-12-08 08:00:00,10,11,9,10.5,7\n",
  }], async (wh) => {
    assert.deepEqual(await quarantined(wh), []);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, DATA_SOURCE, CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1",
      ),
      [
        { TICKER: "COMI", DATA_SOURCE: "BATCH_CSV", CLOSE: 10.5, VOLUME: 100 },
        { TICKER: "SWDY", DATA_SOURCE: "BARS_1M", CLOSE: 10.5, VOLUME: 7 },
      ],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, COMPANY_NAME, SECTOR FROM OPERATIONAL.TBL_COMPANY WHERE TICKER = 'ETEL'",
      ),
      [{ TICKER: "ETEL", COMPANY_NAME: "Telecom Egypt", SECTOR: null }],
    );
  });
  assert.deepEqual(outcomes, [
    ["bars_1m/SWDY.csv", "LOADED", "1", "1", "0", ""],
    ["daily.csv", "LOADED", "1", "1", "0", ""],
    ["more_companies.csv", "LOADED", "1", "1", "0", ""],
  ]);
});

Deno.test("extra columns are ignored whatever their names: rowid, egx_*, repeated or blank ones", async () => {
  const extra = "rowid,egx_line,EGX_File_Key,egx_bar_start,Plot,plot,";
  const outcomes = await loadSteps([{
    "daily.csv": `ticker,trade_date,open,high,low,close,volume,${extra}\n` +
      "COMI,2025-12-08,10,11,9,10.5,100,x,x,x,x,x,x,x\n" +
      "SWDY,2025-12-08,10,11,12,10.5,100,a,b,c,d,e,f,g\n",
    "EGX_COMI, 1D.csv": `time,open,high,low,close,Volume,${extra}\n` +
      "1765173600,10,11,9,10.4,200,x,x,x,x,x,x,x\n",
    "bars_1m/SWDY.csv": `datetime,open,high,low,close,volume,${extra}\n` +
      "2025-12-08 08:00:00,10,11,9,10.5,7,x,x,x,x,x,x,x\n",
    "index_membership.csv": `index_code,ticker,effective_from,${extra}\n` +
      "EGX30,COMI,2025-01-01,x,x,x,x,x,x,x\n",
  }], async (wh) => {
    assert.deepEqual(
      await wh.query(
        "SELECT FILE_KEY AS F, LINE_NUMBER AS L, REASON AS R, RECORD FROM " +
          "OPERATIONAL.TBL_QUARANTINE",
      ),
      [{
        F: "daily.csv",
        L: 3,
        R: "high < low",
        RECORD: '{"ticker":"SWDY","trade_date":"2025-12-08","open":10.0,"high":11.0,' +
          '"low":12.0,"close":10.5,"volume":100.0,"egx_extra_8":"a","egx_extra_9":"b",' +
          '"egx_extra_10":"c","egx_extra_11":"d","Plot":"e","egx_extra_13":"f",' +
          '"egx_extra_14":"g","egx_file_key":"daily.csv","egx_etag":"v1","egx_ticker":null,' +
          '"egx_line":3}',
      }],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, DATA_SOURCE, CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY ALL",
      ),
      [
        { TICKER: "COMI", DATA_SOURCE: "BATCH_CSV", CLOSE: 10.5, VOLUME: 100 },
        { TICKER: "COMI", DATA_SOURCE: "TRADINGVIEW_EXPORT", CLOSE: 10.4, VOLUME: 200 },
        { TICKER: "SWDY", DATA_SOURCE: "BARS_1M", CLOSE: 10.5, VOLUME: 7 },
      ],
    );
    assert.deepEqual(
      await wh.query("SELECT INDEX_CODE, TICKER FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP"),
      [{ INDEX_CODE: "EGX30", TICKER: "COMI" }],
    );
  });
  assert.deepEqual(outcomes, [
    ["EGX_COMI, 1D.csv", "LOADED", "1", "1", "0", ""],
    ["bars_1m/SWDY.csv", "LOADED", "1", "1", "0", ""],
    ["daily.csv", "LOADED", "2", "1", "1", ""],
    ["index_membership.csv", "LOADED", "1", "1", "0", ""],
  ]);
});

Deno.test("a file without an optional column leaves what is stored in it; its default is for a new row only", async () => {
  const company = (wh: Warehouse) =>
    wh.query(
      "SELECT TICKER, INDUSTRY, IS_ACTIVE, SOURCE_FILE FROM OPERATIONAL.TBL_COMPANY " +
        "WHERE TICKER IN ('OLDX', 'NEWX') ORDER BY 1",
    );
  const financial = (wh: Warehouse) =>
    wh.query(
      "SELECT FISCAL_YEAR AS Y, FISCAL_QUARTER AS Q, CURRENCY, REVENUE, NET_INCOME, SOURCE_FILE " +
        "FROM OPERATIONAL.TBL_FINANCIAL ORDER BY 1, 2",
    );
  const stat = (wh: Warehouse) =>
    wh.query(
      "SELECT LAST_PRICE, PE_RATIO, VOLUME, SOURCE_FILE FROM OPERATIONAL.TBL_MARKET_STAT",
    );
  const member = (wh: Warehouse) =>
    wh.query(
      "SELECT TICKER, EFFECTIVE_TO, WEIGHT, SOURCE_FILE FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP " +
        "ORDER BY 1",
    );
  const outcomes = await loadSteps([{
    "list_a.csv": "ticker,company_name,isin,sector,industry,is_active\n" +
      "OLDX,Old Cement,EGS00000X012,Industrials,Cement,false\n",
    "fin_a.csv": "ticker,fiscal_year,fiscal_quarter,period_end,currency,revenue,net_income\n" +
      "COMI,2024,4,2024-12-31,USD,500,120\n",
    "scr_a.csv":
      "ticker,snapshot_date,last_price,pe_ratio,volume\nCOMI,2025-12-08,117.6,7.1,1000\n",
    "idx_a.csv": "index_code,ticker,effective_from,effective_to,weight\n" +
      "EGX30,COMI,2025-01-01,2025-06-30,0.1\n",
  }, {
    // Only the required columns (and revenue): nothing else stored changes.
    "list_b.csv": "ticker,company_name,isin,sector\n" +
      "OLDX,Old Cement,EGS00000X012,Industrials\nNEWX,New Co,EGS00000Y011,Banks\n",
    "fin_b.csv": "ticker,fiscal_year,fiscal_quarter,period_end,revenue\n" +
      "COMI,2024,4,2024-12-31,600\nCOMI,2025,1,2025-03-31,700\n",
    "scr_b.csv": "ticker,snapshot_date,last_price\nCOMI,2025-12-08,118\n",
    "idx_b.csv": "index_code,ticker,effective_from\nEGX30,COMI,2025-01-01\nEGX30,SWDY,2025-01-01\n",
  }, {
    // The columns present, blank: they update (a blank is_active or currency is the default).
    "list_c.csv": "ticker,company_name,isin,sector,industry,is_active\n" +
      "OLDX,Old Cement,EGS00000X012,Industrials,,\n",
    "fin_c.csv": "ticker,fiscal_year,fiscal_quarter,period_end,currency,net_income\n" +
      "COMI,2024,4,2024-12-31,,\n",
    "scr_c.csv": "ticker,snapshot_date,last_price,pe_ratio\nCOMI,2025-12-08,118,\n",
    "idx_c.csv": "index_code,ticker,effective_from,effective_to\nEGX30,COMI,2025-01-01,\n",
  }], async (wh, step) => {
    if (step === 1) {
      assert.deepEqual(await company(wh), [
        { TICKER: "NEWX", INDUSTRY: null, IS_ACTIVE: true, SOURCE_FILE: "list_b.csv" },
        { TICKER: "OLDX", INDUSTRY: "Cement", IS_ACTIVE: false, SOURCE_FILE: "list_a.csv" },
      ]);
      assert.deepEqual(await financial(wh), [
        { Y: 2024, Q: 4, CURRENCY: "USD", REVENUE: 600, NET_INCOME: 120, SOURCE_FILE: "fin_b.csv" },
        {
          Y: 2025,
          Q: 1,
          CURRENCY: "EGP",
          REVENUE: 700,
          NET_INCOME: null,
          SOURCE_FILE: "fin_b.csv",
        },
      ]);
      assert.deepEqual(await stat(wh), [
        { LAST_PRICE: 118, PE_RATIO: 7.1, VOLUME: 1000, SOURCE_FILE: "scr_b.csv" },
      ]);
      assert.deepEqual(await member(wh), [
        { TICKER: "COMI", EFFECTIVE_TO: "2025-06-30", WEIGHT: 0.1, SOURCE_FILE: "idx_a.csv" },
        { TICKER: "SWDY", EFFECTIVE_TO: null, WEIGHT: null, SOURCE_FILE: "idx_b.csv" },
      ]);
    }
    if (step === 2) {
      assert.deepEqual(await company(wh), [
        { TICKER: "NEWX", INDUSTRY: null, IS_ACTIVE: true, SOURCE_FILE: "list_b.csv" },
        { TICKER: "OLDX", INDUSTRY: null, IS_ACTIVE: true, SOURCE_FILE: "list_c.csv" },
      ]);
      assert.deepEqual(await financial(wh), [
        {
          Y: 2024,
          Q: 4,
          CURRENCY: "EGP",
          REVENUE: 600,
          NET_INCOME: null,
          SOURCE_FILE: "fin_c.csv",
        },
        {
          Y: 2025,
          Q: 1,
          CURRENCY: "EGP",
          REVENUE: 700,
          NET_INCOME: null,
          SOURCE_FILE: "fin_b.csv",
        },
      ]);
      assert.deepEqual(await stat(wh), [
        { LAST_PRICE: 118, PE_RATIO: null, VOLUME: 1000, SOURCE_FILE: "scr_c.csv" },
      ]);
      assert.deepEqual(await member(wh), [
        { TICKER: "COMI", EFFECTIVE_TO: null, WEIGHT: 0.1, SOURCE_FILE: "idx_c.csv" },
        { TICKER: "SWDY", EFFECTIVE_TO: null, WEIGHT: null, SOURCE_FILE: "idx_b.csv" },
      ]);
    }
  });
  assert.deepEqual(outcomes.map((o) => o.slice(0, 5)), [
    ["fin_a.csv", "LOADED", "1", "1", "0"],
    ["idx_a.csv", "LOADED", "1", "1", "0"],
    ["list_a.csv", "LOADED", "1", "1", "0"],
    ["scr_a.csv", "LOADED", "1", "1", "0"],
    ["fin_b.csv", "LOADED", "2", "2", "0"],
    ["idx_b.csv", "LOADED", "2", "2", "0"],
    ["list_b.csv", "LOADED", "2", "2", "0"],
    ["scr_b.csv", "LOADED", "1", "1", "0"],
    ["fin_c.csv", "LOADED", "1", "1", "0"],
    ["idx_c.csv", "LOADED", "1", "1", "0"],
    ["list_c.csv", "LOADED", "1", "1", "0"],
    ["scr_c.csv", "LOADED", "1", "1", "0"],
  ]);
});
