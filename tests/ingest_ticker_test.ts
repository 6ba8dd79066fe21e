/**
 * Batch ingestion into a real DuckDB file: every ticker is loaded as its EGX code by the one rule
 * (lib/market/ticker.ts; egx_ticker in lib/ingest/sql/prelude.sql): ACTF.CA and " actf.ca " are
 * ACTF, and a ticker that breaks the rule is quarantined, naming it.
 */
import assert from "node:assert/strict";
import { loadFiles, type LoadOutcome } from "../lib/ingest/load.ts";
import { validateData } from "../lib/ingest/validate.ts";
import type { Warehouse } from "../lib/warehouse/warehouse.ts";
import { localFile, withTempWarehouse } from "./support/temp_warehouse.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const AS_OF = new Date("2025-12-10T12:00:00Z");

/** Write `files` (key -> content) to a new folder and load them in one batch. */
async function load(wh: Warehouse, files: Record<string, string>): Promise<LoadOutcome[]> {
  const dir = await Deno.makeTempDir({ prefix: "egx_ticker_" });
  try {
    const batch = [];
    for (const [key, text] of Object.entries(files)) {
      const path = `${dir}/${key}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(path, text);
      batch.push(localFile(path, key));
    }
    return await loadFiles(wh, batch, { asOf: AS_OF });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function counts(out: LoadOutcome[]): [string, string, number, number, number][] {
  return out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]);
}

async function quarantine(wh: Warehouse): Promise<[string, number, string][]> {
  return (await wh.query<{ K: string; L: number; R: string }>(
    "SELECT FILE_KEY AS K, LINE_NUMBER AS L, REASON AS R FROM OPERATIONAL.TBL_QUARANTINE " +
      "ORDER BY 1, 2",
  )).map((r) => [r.K, r.L, r.R]);
}

Deno.test("the bundled company list's ACTF.CA is stored as ACTF, and a price row for actf.ca loads under ACTF", async () => {
  await withTempWarehouse(async (wh) => {
    const [companies] = await loadFiles(wh, [
      localFile(`${ROOT}data/sample/companies.csv`, "companies.csv"),
    ]);
    assert.deepEqual([companies.status, companies.rowsLoaded], ["LOADED", 223]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, COMPANY_NAME FROM OPERATIONAL.TBL_COMPANY WHERE TICKER LIKE 'ACTF%'",
      ),
      [{ TICKER: "ACTF", COMPANY_NAME: "Act Financial" }],
    );
    const out = await load(wh, {
      "prices.csv": "ticker,trade_date,open,high,low,close,volume\n" +
        "actf.ca,2025-07-01,2,2.2,1.9,2.1,1000\n" +
        " Comi ,2025-07-01,80,82,79,81,500\n",
    });
    assert.deepEqual(counts(out), [["prices.csv", "LOADED", 2, 2, 0]]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, TRADE_DATE, CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY TICKER",
      ),
      [
        { TICKER: "ACTF", TRADE_DATE: "2025-07-01", CLOSE: 2.1 },
        { TICKER: "COMI", TRADE_DATE: "2025-07-01", CLOSE: 81 },
      ],
    );
  });
});

Deno.test("a ticker that breaks the rule is quarantined in every file with a ticker column, naming it", async () => {
  await withTempWarehouse(async (wh) => {
    const out = await load(wh, {
      "companies.csv": "ticker,company_name,isin,sector\n" +
        "COMI,CIB,,Financials\n" +
        "A-B,Dash Co,,\n" +
        "actf.ca,Act Financial,,\n" +
        "ABCDEFGHIJK,Too Long Co,,\n" +
        "ACTF,Act Financial again,,\n" +
        ",No Ticker Co,,\n",
      "index_membership.csv": "index_code,ticker,effective_from\n" +
        "EGX30,comi.ca,2025-01-01\nEGX30,C0-MI,2025-01-01\n",
      "financials.csv": "ticker,fiscal_year,fiscal_quarter,period_end\n" +
        "Comi.CA,2025,3,2025-09-30\n1COMI,2025,3,2025-09-30\n",
      "screener.csv": "ticker,snapshot_date,last_price\n" +
        "comi,2025-12-08,117.6\nCOMI.EG,2025-12-08,117.6\n",
      "prices.csv": "ticker,trade_date,open,high,low,close,volume\n" +
        "COMI.CA,2025-07-01,80,82,79,81,500\nEGX:COMI,2025-07-01,80,82,79,81,500\n" +
        "C,2025-07-01,80,82,79,81,500\n",
    });
    assert.deepEqual(counts(out), [
      ["companies.csv", "LOADED", 6, 1, 5],
      ["index_membership.csv", "LOADED", 2, 1, 1],
      ["financials.csv", "LOADED", 2, 1, 1],
      ["screener.csv", "LOADED", 2, 1, 1],
      ["prices.csv", "LOADED", 3, 1, 2],
    ]);
    assert.deepEqual(await quarantine(wh), [
      ["companies.csv", 3, 'invalid ticker "A-B"'],
      // ACTF.CA and ACTF are one key, twice in the file, as any other duplicate.
      ["companies.csv", 4, "duplicate key (ticker) in the file"],
      ["companies.csv", 5, 'invalid ticker "ABCDEFGHIJK"'],
      ["companies.csv", 6, "duplicate key (ticker) in the file"],
      ["companies.csv", 7, "missing ticker"],
      ["financials.csv", 3, 'invalid ticker "1COMI"'],
      ["index_membership.csv", 3, 'invalid ticker "C0-MI"'],
      ["prices.csv", 3, 'invalid ticker "EGX:COMI"'],
      ["prices.csv", 4, 'invalid ticker "C"'],
      ["screener.csv", 3, 'invalid ticker "COMI.EG"'],
    ]);
    const stored = async (table: string) =>
      (await wh.query<{ T: string }>(`SELECT DISTINCT TICKER AS T FROM OPERATIONAL.${table}`))
        .map((r) => r.T);
    assert.deepEqual(
      [
        await stored("TBL_COMPANY"),
        await stored("TBL_INDEX_MEMBERSHIP"),
        await stored("TBL_FINANCIAL"),
        await stored("TBL_MARKET_STAT"),
        await stored("TBL_STOCK_PRICE"),
      ],
      [["COMI"], ["COMI"], ["COMI"], ["COMI"], ["COMI"]],
    );
  });
});

Deno.test("a per-ticker export named with the Cairo suffix or a longer code loads under its code", async () => {
  await withTempWarehouse(async (wh) => {
    await load(wh, {
      "companies.csv": "ticker,company_name,isin,sector\nACTF.CA,Act Financial,,\n" +
        "ABCDEFGHIJ,Ten Letters,,\n",
    });
    const out = await load(wh, {
      "bars_1m/ACTF.CA.csv": "datetime,open,high,low,close,volume\n" +
        "2025-12-08 08:00:00,2,2,2,2,10\n",
      "ABCDEFGHIJ Historical Data.csv": '"Date","Price","Open","High","Low","Vol.","Change %"\n' +
        '"12/08/2025","3.0","3.0","3.0","3.0","1.5K","0.00%"\n',
      "EGX_ABCDEFGHIJ, 1D.csv": "time,open,high,low,close,Volume\n1765144800,3,3,3,3,20\n",
    });
    assert.deepEqual(counts(out).map((c) => c.slice(0, 4)), [
      ["ABCDEFGHIJ Historical Data.csv", "LOADED", 1, 1],
      ["EGX_ABCDEFGHIJ, 1D.csv", "LOADED", 1, 1],
      ["bars_1m/ACTF.CA.csv", "LOADED", 1, 1],
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, DATA_SOURCE, CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1, 2",
      ),
      [
        { TICKER: "ABCDEFGHIJ", DATA_SOURCE: "INVESTING_EXPORT", CLOSE: 3 },
        { TICKER: "ABCDEFGHIJ", DATA_SOURCE: "TRADINGVIEW_EXPORT", CLOSE: 3 },
        { TICKER: "ACTF", DATA_SOURCE: "BARS_1M", CLOSE: 2 },
      ],
    );
  });
});

Deno.test("a warehouse that stored ACTF.CA before the rule: its prices load as ACTF, the next list adds ACTF, validate_data names the old row", async () => {
  await withTempWarehouse(async (wh) => {
    await wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES " +
          "('ACTF.CA', 'Act Financial'), ('COMI', 'CIB')",
      );
    });
    // Known as its code meanwhile: nothing quarantined for the old spelling.
    const prices = await load(wh, {
      "prices.csv": "ticker,trade_date,open,high,low,close,volume\n" +
        "ACTF,2025-07-01,2,2.2,1.9,2.1,1000\n",
    });
    assert.deepEqual(counts(prices), [["prices.csv", "LOADED", 1, 1, 0]]);
    const list = await load(wh, {
      "companies.csv": "ticker,company_name,isin,sector\nACTF.CA,Act Financial Holding,,\n",
    });
    assert.deepEqual(counts(list), [["companies.csv", "LOADED", 1, 1, 0]]);
    // The old row stays (a load never deletes a company); stg_companies reads both as ACTF,
    // the later write winning.
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, COMPANY_NAME FROM OPERATIONAL.TBL_COMPANY WHERE TICKER LIKE 'ACTF%' " +
          "ORDER BY 1",
      ),
      [
        { TICKER: "ACTF", COMPANY_NAME: "Act Financial Holding" },
        { TICKER: "ACTF.CA", COMPANY_NAME: "Act Financial" },
      ],
    );
    const report = await validateData(wh, { asOf: AS_OF });
    assert.deepEqual(report.checks.find((c) => c.name === "tickers follow the rule"), {
      name: "tickers follow the rule",
      ok: false,
      detail: "tickers that are not an EGX code (2-10 letters or digits starting with a " +
        "letter): TABLE_NAME=TBL_COMPANY TICKER=ACTF.CA",
    });
  });
});
