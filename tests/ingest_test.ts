/**
 * Batch ingestion into a real DuckDB file: the bundled real data, every bad-row class with its
 * reason and line, the file formats, re-loads, atomicity, and a concurrent writer.
 */
import assert from "node:assert/strict";
import { loadFiles, type LocalFile, recordFailure } from "../lib/ingest/load.ts";
import { registerSecrets } from "../lib/config/config.ts";
import { compareKeys, LocalLanding } from "../lib/ingest/landing.ts";
import { describeOutcomes, pendingObjects, runBatch } from "../lib/ingest/batch.ts";
import { Progress } from "../lib/ingest/progress.ts";
import { detectFormat, UnknownFormatError } from "../lib/ingest/formats.ts";
import { screenLines } from "../lib/ingest/quotes.ts";
import { validateData } from "../lib/ingest/validate.ts";
import { type Session, type Warehouse, WarehouseQueryError } from "../lib/warehouse/warehouse.ts";
import { localFile, withTempWarehouse } from "./support/temp_warehouse.ts";
import { runProjectJob } from "./support/processes.ts";
import { copyDir } from "./models_fixture.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SAMPLE = `${ROOT}data/sample`;
const DATA = `${ROOT}tests/testdata/ingest`;
const WRITER = `${ROOT}tests/testdata/warehouse/writer.ts`;

async function loadCompanies(wh: Warehouse): Promise<void> {
  const [o] = await loadFiles(wh, [localFile(`${SAMPLE}/companies.csv`, "companies.csv")]);
  assert.equal(o.status, "LOADED", o.error);
}

async function quarantine(wh: Warehouse, key: string): Promise<[number, string][]> {
  const rows = await wh.query<{ L: number; R: string }>(
    "SELECT LINE_NUMBER AS L, REASON AS R FROM OPERATIONAL.TBL_QUARANTINE WHERE FILE_KEY = ? " +
      "ORDER BY 1",
    [key],
  );
  return rows.map((r) => [r.L, r.R]);
}

function sampleFiles(): LocalFile[] {
  const bars = [...Deno.readDirSync(`${SAMPLE}/bars_1m`)]
    .filter((e) => e.name.endsWith(".csv"))
    .map((e) => e.name)
    .sort();
  return [
    localFile(`${SAMPLE}/index_membership.csv`, "index_membership.csv"),
    ...bars.map((b) => localFile(`${SAMPLE}/bars_1m/${b}`, `bars_1m/${b}`)),
    localFile(`${SAMPLE}/companies.csv`, "companies.csv"),
  ];
}

Deno.test("the bundled real sample loads completely: companies, indices, bars and daily bars", async () => {
  await withTempWarehouse(async (wh) => {
    const out = await loadFiles(wh, sampleFiles());
    // Reference data first, whatever the order given.
    assert.deepEqual(out.slice(0, 2).map((o) => o.format), ["companies", "index_membership"]);
    assert.deepEqual(out.filter((o) => o.status !== "LOADED"), []);
    assert.equal(out.reduce((a, o) => a + o.rowsQuarantined, 0), 0);
    const count = async (sql: string) => (await wh.query<{ N: number }>(sql))[0].N;
    assert.equal(await count("SELECT count(*) AS N FROM OPERATIONAL.TBL_COMPANY"), 223);
    assert.equal(
      await count("SELECT count(*) AS N FROM OPERATIONAL.TBL_COMPANY WHERE SECTOR IS NULL"),
      194,
    );
    assert.equal(await count("SELECT count(*) AS N FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP"), 22);
    assert.equal(await count("SELECT count(*) AS N FROM OPERATIONAL.TBL_INTRADAY_BAR"), 225_573);
    assert.equal(
      await count(
        "SELECT count(*) AS N FROM OPERATIONAL.TBL_STOCK_PRICE WHERE DATA_SOURCE = 'BARS_1M'",
      ),
      1308,
    );
    const [day] = await wh.query(
      "SELECT OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE FROM OPERATIONAL.TBL_STOCK_PRICE " +
        "WHERE TICKER = 'COMI' AND TRADE_DATE = DATE '2025-12-08'",
    );
    assert.deepEqual(day, {
      OPEN: 116.21,
      HIGH: 117.85,
      LOW: 116.21,
      CLOSE: 117.6,
      VOLUME: 1889311,
      SOURCE_FILE: "bars_1m/COMI.csv",
    });
    // The same day recomputed from the raw file: first open, last close, extremes, total volume.
    const lines = Deno.readTextFileSync(`${SAMPLE}/bars_1m/COMI.csv`).trim().split("\n").slice(1)
      .map((l) => l.split(","))
      .filter((f) => f[0].startsWith("2025-12-08"))
      .sort((a, b) => a[0].localeCompare(b[0]));
    assert.equal(Number(lines[0][1]), day.OPEN);
    assert.equal(Number(lines[lines.length - 1][4]), day.CLOSE);
    assert.equal(Math.max(...lines.map((f) => Number(f[2]))), day.HIGH);
    assert.equal(Math.min(...lines.map((f) => Number(f[3]))), day.LOW);
    assert.equal(lines.reduce((a, f) => a + Number(f[5]), 0), day.VOLUME);
  });
});

Deno.test("the trade date is the Cairo date across the October 2025 DST change", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    await loadFiles(wh, [localFile(`${SAMPLE}/bars_1m/COMI.csv`, "bars_1m/COMI.csv")]);
    const rows = await wh.query(
      "SELECT TRADE_DATE AS D, count(*) AS N, min(BAR_START) AS FIRST, max(BAR_START) AS LAST " +
        "FROM OPERATIONAL.TBL_INTRADAY_BAR WHERE TRADE_DATE IN ('2025-10-29', '2025-11-02') " +
        "GROUP BY 1 ORDER BY 1",
    );
    // 10:00 Cairo is 07:00 UTC in summer (UTC+3) and 08:00 UTC in winter (UTC+2); every bar of
    // those UTC dates in the file (206 and 213) belongs to that Cairo trade date.
    assert.deepEqual(rows, [
      {
        D: "2025-10-29",
        N: 206,
        FIRST: "2025-10-29T07:00:00.000Z",
        LAST: "2025-10-29T11:28:00.000Z",
      },
      {
        D: "2025-11-02",
        N: 213,
        FIRST: "2025-11-02T08:00:00.000Z",
        LAST: "2025-11-02T12:29:00.000Z",
      },
    ]);
  });
});

Deno.test("every bad daily row is quarantined with its line and reason; good rows load", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    const key = "bad/daily_bad_rows.csv";
    const [o] = await loadFiles(wh, [localFile(`${DATA}/bad/daily_bad_rows.csv`, key)]);
    assert.deepEqual(
      [o.status, o.format, o.rowsRead, o.rowsLoaded, o.rowsQuarantined],
      ["LOADED", "daily_canonical", 15, 2, 13],
    );
    assert.deepEqual(await quarantine(wh, key), [
      [3, "missing close"],
      [4, 'unparsable open "abc"'],
      [5, 'unparsable trade_date "2025-13-45"'],
      [6, "non-positive price"],
      [7, "negative volume"],
      [8, "high < low"],
      [9, "open/close outside [low, high]"],
      [10, "not an EGX trading day (Friday 2025-07-04)"],
      [11, "not an EGX trading day (Thursday 2025-07-03)"],
      [12, "unknown ticker ZZZZ"],
      [13, "duplicate key (ticker, trade date) in the file"],
      [14, "duplicate key (ticker, trade date) in the file"],
      [15, "missing ticker"],
    ]);
    const [rec] = await wh.query<{ RECORD: string }>(
      "SELECT RECORD FROM OPERATIONAL.TBL_QUARANTINE WHERE FILE_KEY = ? AND LINE_NUMBER = 4",
      [key],
    );
    assert.equal(rec.RECORD, "COMI,2025-07-01,abc,82.0,80.5,81.2,95000");
    // A row read but failing a check keeps the record as read (no helper columns of the checks).
    const [read] = await wh.query<{ RECORD: string }>(
      "SELECT RECORD FROM OPERATIONAL.TBL_QUARANTINE WHERE FILE_KEY = ? AND LINE_NUMBER = 12",
      [key],
    );
    const record = JSON.parse(read.RECORD);
    assert.deepEqual(Object.keys(record).filter((k) => k.startsWith("egx_")), [
      "egx_file_key",
      "egx_etag",
      "egx_ticker",
      "egx_line",
    ]);
    assert.deepEqual(
      [record.ticker, record.trade_date, record.open, record.close, record.egx_line],
      ["ZZZZ", "2025-06-29", 10, 10.5, 12],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, TRADE_DATE, CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1",
      ),
      [
        { TICKER: "ABUK", TRADE_DATE: "2025-07-01", CLOSE: 60.5, VOLUME: 7000 },
        { TICKER: "COMI", TRADE_DATE: "2025-06-29", CLOSE: 81, VOLUME: 120000 },
      ],
    );
  });
});

Deno.test("one-minute bars outside the session (Ramadan, DST) or on closed days are quarantined", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    const key = "bars_1m/COMI.csv";
    const [o] = await loadFiles(wh, [localFile(`${DATA}/bars_1m/COMI.csv`, key)]);
    assert.deepEqual([o.rowsRead, o.rowsLoaded, o.rowsQuarantined], [13, 6, 7]);
    assert.deepEqual(await quarantine(wh, key), [
      [4, "outside the session (13:45 Cairo, Ramadan 1446 session 10:00-13:30)"],
      [8, "outside the session (09:59 Cairo, session 10:00-14:30)"],
      [9, "duplicate key (ticker, bar start) in the file"],
      [10, "outside the session (09:30 Cairo, session 10:00-14:30)"],
      [12, "outside the session (14:30 Cairo, session 10:00-14:30)"],
      [13, "not an EGX trading day (Friday 2025-11-07)"],
      [14, "duplicate key (ticker, bar start) in the file"],
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE " +
          "WHERE DATA_SOURCE = 'BARS_1M' ORDER BY 1",
      ),
      [
        { TRADE_DATE: "2025-03-10", OPEN: 70, HIGH: 71, LOW: 69.8, CLOSE: 70.9, VOLUME: 1500 },
        { TRADE_DATE: "2025-10-29", OPEN: 100, HIGH: 101, LOW: 99, CLOSE: 99.2, VOLUME: 4300 },
        { TRADE_DATE: "2025-11-02", OPEN: 99.1, HIGH: 99.6, LOW: 99, CLOSE: 99.5, VOLUME: 900 },
      ],
    );
  });
});

Deno.test("Investing.com and TradingView exports load with the ticker from the file name", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    const inv = "exports/COMI Historical Data.csv";
    const tv = "exports/EGX_ETEL, 1D.csv";
    const out = await loadFiles(wh, [
      localFile(`${DATA}/${inv}`, inv),
      localFile(`${DATA}/${tv}`, tv),
    ]);
    assert.deepEqual(
      out.map((o) => [o.key, o.format, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
      [[inv, "daily_investing", 4, 2, 2], [tv, "daily_tradingview", 3, 2, 1]],
    );
    assert.deepEqual(await quarantine(wh, inv), [
      [4, 'unparsable volume "abc"'],
      [5, "not an EGX trading day (Saturday 2025-06-28)"],
    ]);
    assert.deepEqual(await quarantine(wh, tv), [[4, "not an EGX trading day (Friday 2025-07-04)"]]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME " +
          "FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1, 2",
      ),
      [
        {
          TICKER: "COMI",
          TRADE_DATE: "2025-06-30",
          DATA_SOURCE: "INVESTING_EXPORT",
          OPEN: 1060,
          HIGH: 1075,
          LOW: 1058,
          CLOSE: 1071.75,
          VOLUME: 426440,
        },
        {
          TICKER: "COMI",
          TRADE_DATE: "2025-07-01",
          DATA_SOURCE: "INVESTING_EXPORT",
          OPEN: 1070,
          HIGH: 1085,
          LOW: 1065.25,
          CLOSE: 1081.5,
          VOLUME: 1810000,
        },
        {
          TICKER: "ETEL",
          TRADE_DATE: "2025-06-29",
          DATA_SOURCE: "TRADINGVIEW_EXPORT",
          OPEN: 40.1,
          HIGH: 41.2,
          LOW: 39.9,
          CLOSE: 40.8,
          VOLUME: 150000,
        },
        {
          TICKER: "ETEL",
          TRADE_DATE: "2025-06-30",
          DATA_SOURCE: "TRADINGVIEW_EXPORT",
          OPEN: 40.8,
          HIGH: 41.5,
          LOW: 40.2,
          CLOSE: 41,
          VOLUME: 160000,
        },
      ],
    );
  });
});

Deno.test('an Investing.com day with volume "-" loads its prices with no volume; a bad volume is quarantined', async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    const inv = "exports/ETEL Historical Data.csv";
    const file = localFile(`${DATA}/${inv}`, inv);
    const [o] = await loadFiles(wh, [file]);
    assert.deepEqual(
      [o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined, o.error],
      ["LOADED", 7, 3, 4, undefined],
    );
    // "-" is the export's "no volume for that day", not a malformed volume: only values that
    // are there and wrong are quarantined (a day with "-" and bad prices, for its prices only).
    assert.deepEqual(await quarantine(wh, inv), [
      [4, 'unparsable volume "12x"'],
      [5, "negative volume"],
      [6, "high < low"],
      [7, "missing volume"],
    ]);
    const prices = () =>
      wh.query(
        "SELECT TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, UPDATED_AT " +
          "FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'ETEL' " +
          "AND DATA_SOURCE = 'INVESTING_EXPORT' ORDER BY 1",
      );
    const loaded = await prices();
    assert.deepEqual(loaded.map(({ UPDATED_AT: _, ...r }) => r), [
      { TRADE_DATE: "2025-11-26", OPEN: 39.8, HIGH: 40.1, LOW: 39.7, CLOSE: 40, VOLUME: null },
      {
        TRADE_DATE: "2025-12-03",
        OPEN: 40.5,
        HIGH: 41,
        LOW: 40.4,
        CLOSE: 40.8,
        VOLUME: 1_250_000,
      },
      { TRADE_DATE: "2025-12-04", OPEN: 40.8, HIGH: 41.5, LOW: 40.6, CLOSE: 41.2, VOLUME: null },
    ]);
    // Loaded again (another version of the same content): a NULL volume is no change either.
    const [again] = await loadFiles(wh, [{ ...file, etag: "v2" }]);
    assert.deepEqual([again.status, again.rowsLoaded], ["LOADED", 3]);
    assert.deepEqual(await prices(), loaded);
    // validate_data's checks pass: an unknown volume is not a negative one.
    const report = await validateData(wh, { asOf: new Date("2025-12-04T13:00:00Z") });
    assert.deepEqual(report.checks.filter((c) => !c.ok), [], report.text);
  });
});

Deno.test("an Investing.com export with day/month dates fails whole; month/day files still load", async () => {
  const head = '"Date","Price","Open","High","Low","Vol.","Change %"\n';
  const row = (d: string, close: number) =>
    `"${d}","${close}.00","${close}.00","${close + 1}.00","${close - 1}.00","2.00M","0.1%"\n`;
  const [dir, files] = await tempFiles({
    // A regional site's export: read as MM/DD, 11/12 and 08/12 would load as Nov 12 and Aug 12.
    "uk/COMI Historical Data.csv": head + row("14/12/2025", 210) + row("11/12/2025", 205) +
      row("08/12/2025", 200),
    "mixed/COMI Historical Data.csv": head + row("12/11/2025", 100) + row("14/12/2025", 101) +
      row("12/14/2025", 102),
    "us/COMI Historical Data.csv": head + row("12/14/2025", 110) + row("12/11/2025", 105),
    // Every date reads both ways: the spacing of the rows tells. 11, 10, 9 November as day/month
    // (read as month/day: 11 November, 11 October, 11 September) ...
    "a-dm/COMI Historical Data.csv": head + row("11/11/2025", 90) + row("10/11/2025", 91) +
      row("09/11/2025", 92),
    // ... and as month/day (read as day/month: 11 November, 11 October, 11 September).
    "a-md/COMI Historical Data.csv": head + row("11/11/2025", 80) + row("11/10/2025", 81) +
      row("11/09/2025", 82),
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined, o.error]),
        [
          [
            "a-dm/COMI Historical Data.csv",
            "FAILED",
            0,
            0,
            0,
            "a-dm/COMI Historical Data.csv: its dates are day/month/year: read so, its rows are 2 " +
            'days apart in all, read as month/day/year 61 (first date "11/11/2025" on line 2); ' +
            "an Investing.com export is read as MM/DD/YYYY, which would put its dates on other " +
            "days; the file is not loaded (export it with MM/DD/YYYY dates)",
          ],
          ["a-md/COMI Historical Data.csv", "LOADED", 3, 3, 0, undefined],
          [
            "mixed/COMI Historical Data.csv",
            "FAILED",
            0,
            0,
            0,
            'mixed/COMI Historical Data.csv: its dates are not in one order ("14/12/2025" on ' +
            'line 3 is only day/month/year, "12/14/2025" on line 4 only month/day/year): the ' +
            "file is not loaded",
          ],
          [
            "uk/COMI Historical Data.csv",
            "FAILED",
            0,
            0,
            0,
            'uk/COMI Historical Data.csv: its dates are day/month/year ("14/12/2025" on line 2 ' +
            "is no month/day/year date): an Investing.com export is read as MM/DD/YYYY, which " +
            "would put its other dates on other days; the file is not loaded (export it with " +
            "MM/DD/YYYY dates)",
          ],
          ["us/COMI Historical Data.csv", "LOADED", 2, 2, 0, undefined],
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE, DATA_SOURCE, CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE " +
            "ORDER BY ALL",
        ),
        [
          { TICKER: "COMI", TRADE_DATE: "2025-11-09", DATA_SOURCE: "INVESTING_EXPORT", CLOSE: 82 },
          { TICKER: "COMI", TRADE_DATE: "2025-11-10", DATA_SOURCE: "INVESTING_EXPORT", CLOSE: 81 },
          { TICKER: "COMI", TRADE_DATE: "2025-11-11", DATA_SOURCE: "INVESTING_EXPORT", CLOSE: 80 },
          { TICKER: "COMI", TRADE_DATE: "2025-12-11", DATA_SOURCE: "INVESTING_EXPORT", CLOSE: 105 },
          { TICKER: "COMI", TRADE_DATE: "2025-12-14", DATA_SOURCE: "INVESTING_EXPORT", CLOSE: 110 },
        ],
      );
      assert.deepEqual(
        await wh.query("SELECT count(*)::INTEGER AS N FROM OPERATIONAL.TBL_QUARANTINE"),
        [{ N: 0 }],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT FILE_KEY, STATUS FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY <> " +
            "'companies.csv' ORDER BY 1",
        ),
        [
          { FILE_KEY: "a-dm/COMI Historical Data.csv", STATUS: "FAILED" },
          { FILE_KEY: "a-md/COMI Historical Data.csv", STATUS: "LOADED" },
          { FILE_KEY: "mixed/COMI Historical Data.csv", STATUS: "FAILED" },
          { FILE_KEY: "uk/COMI Historical Data.csv", STATUS: "FAILED" },
          { FILE_KEY: "us/COMI Historical Data.csv", STATUS: "LOADED" },
        ],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown format is rejected with the file's name and what was expected", async () => {
  assert.throws(
    () => detectFormat("exports/mystery.csv", "foo,bar,baz"),
    (e: Error) =>
      e instanceof UnknownFormatError &&
      e.message.startsWith('exports/mystery.csv: unknown file format: header "foo,bar,baz"; ') &&
      e.message.includes("one-minute bars (datetime,open,high,low,close,volume)"),
  );
  // An empty file (or one starting with a blank line) says so, not `header ""`.
  for (const header of ["", " \r"]) {
    assert.throws(
      () => detectFormat("daily.csv", header),
      (e: Error) =>
        e instanceof UnknownFormatError &&
        e.message.startsWith(
          "daily.csv: the file is empty or its first line is blank: it must start with a " +
            "header line, one of: company list (ticker,",
        ),
    );
  }
  assert.throws(
    () => detectFormat("exports/prices.csv", "time,open,high,low,close,Volume"),
    /exports\/prices\.csv: a TradingView chart export must be named after its ticker, e\.g\. "EGX_COMI, 1D\.csv"/,
  );
  await withTempWarehouse(async (wh) => {
    const key = "exports/mystery.csv";
    const [o] = await loadFiles(wh, [localFile(`${DATA}/${key}`, key)]);
    assert.equal(o.status, "FAILED");
    assert.match(o.error!, /^exports\/mystery\.csv: unknown file format/);
    // The batch summary names the file once, not "mystery.csv: mystery.csv: ...".
    assert.equal(describeOutcomes([o]), `  FAILED  ${o.error}`);
    assert.equal(
      describeOutcomes([{ ...o, error: "disk full" }]),
      "  FAILED  exports/mystery.csv: disk full",
    );
    const [log] = await wh.query(
      "SELECT STATUS, ROWS_READ, ERROR FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = ?",
      [key],
    );
    assert.equal(log.STATUS, "FAILED");
    assert.equal(log.ROWS_READ, 0);
    assert.equal(log.ERROR, o.error);
  });
});

Deno.test("a file whose lines end with CR alone fails, saying so", async () => {
  // Its first line runs on into the rows: an index list whose last column is optional was taken
  // for an index list and failed on "Catalog Error: Column with name weight already exists!".
  const [dir, files] = await tempFiles({
    "index.csv": "index_code,ticker,effective_from,weight\rEGX30,COMI,2025-01-01,0.1\r",
    "daily.csv": DAILY_HEADER.replace("\n", "\r") + "COMI,2025-07-01,80,82,79,81,500\r",
    "good.csv": DAILY_HEADER + "COMI,2025-07-01,80,82,79,81,500\r\n",
  });
  const cr = (key: string) =>
    `${key}: its lines end with a carriage return (CR) alone, as "CSV (Macintosh)" writes ` +
    "them: save it with LF or CRLF line breaks";
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.error]), [
        ["index.csv", "FAILED", 0, 0, cr("index.csv")],
        ["daily.csv", "FAILED", 0, 0, cr("daily.csv")],
        ["good.csv", "LOADED", 1, 1, undefined],
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("only a daily TradingView export loads: a weekly, monthly or intraday one fails, naming its interval", async () => {
  const header = "time,open,high,low,close,Volume";
  // A number after a space is not an interval: only TradingView's ", <interval>" is.
  for (
    const [key, ticker] of [
      ["EGX_SWDY, 1D.csv", "SWDY"],
      ["EGX_SWDY, D.csv", "SWDY"],
      ["COMI 2024.csv", "COMI"],
      ["EGX_COMI 2025.csv", "COMI"],
    ]
  ) {
    assert.equal(detectFormat(key, header).ticker, ticker);
  }
  for (const [key, interval] of [["EGX_SWDY, 1M.csv", "1M"], ["x/EGX_SWDY, 60.csv", "60"]]) {
    assert.throws(
      () => detectFormat(key, header),
      (e: Error) =>
        e instanceof UnknownFormatError &&
        e.message === `${key}: a TradingView chart export of interval ${interval} is not daily ` +
            'bars: only a daily export (interval 1D or D, e.g. "EGX_COMI, 1D.csv") can be loaded',
    );
  }
  const [dir, files] = await tempFiles({
    // Two weekly bars (2025-12-01 and 2025-12-08, both Mondays): loaded, they became daily rows.
    "EGX_SWDY, 1W.csv": `${header}\n1764547200,10,11,9,10.5,5000\n1765152000,10,12,9,11,7000\n`,
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const [o] = await loadFiles(wh, files);
      assert.equal(o.status, "FAILED");
      assert.equal(
        o.error,
        "EGX_SWDY, 1W.csv: a TradingView chart export of interval 1W is not daily bars: only a " +
          'daily export (interval 1D or D, e.g. "EGX_COMI, 1D.csv") can be loaded',
      );
      assert.deepEqual(
        await wh.query("SELECT count(*)::INTEGER AS N FROM OPERATIONAL.TBL_STOCK_PRICE"),
        [{ N: 0 }],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT STATUS, ERROR FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = 'EGX_SWDY, 1W.csv'",
        ),
        [{ STATUS: "FAILED", ERROR: o.error }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a header naming a column twice fails its file, naming the column; the other files load", async () => {
  assert.throws(
    () => detectFormat("x/daily.csv", "ticker,trade_date,open,high,low,Close,volume,close"),
    (e: Error) =>
      e instanceof UnknownFormatError &&
      e.message === 'x/daily.csv: the header names column "close" 2 times (columns 6, 8): a ' +
          "canonical daily OHLCV CSV must name each of its columns once",
  );
  // A repeated column the format does not read (a chart export's indicators) is no problem.
  assert.equal(
    detectFormat("EGX_SWDY, 1D.csv", "time,open,high,low,close,Volume,Plot,Plot").spec.id,
    "daily_tradingview",
  );
  const [dir, files] = await tempFiles({
    "dupcol.csv": "ticker,trade_date,open,high,low,close,volume,close\n" +
      "SWDY,2025-12-08,10,11,9,10.5,1000,99\n",
    "good.csv": `${DAILY_HEADER}SWDY,2025-12-08,10,11,9,10.5,1000\n`,
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.error]), [
        [
          "dupcol.csv",
          "FAILED",
          0,
          0,
          'dupcol.csv: the header names column "close" 2 times (columns 6, 8): a canonical ' +
          "daily OHLCV CSV must name each of its columns once",
        ],
        ["good.csv", "LOADED", 1, 1, undefined],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT FILE_KEY, STATUS, ERROR FROM OPERATIONAL.TBL_LOAD_LOG ORDER BY FILE_KEY",
        ),
        [
          { FILE_KEY: "companies.csv", STATUS: "LOADED", ERROR: null },
          { FILE_KEY: "dupcol.csv", STATUS: "FAILED", ERROR: out[0].error },
          { FILE_KEY: "good.csv", STATUS: "LOADED", ERROR: null },
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE::VARCHAR AS D, CLOSE, SOURCE_FILE " +
            "FROM OPERATIONAL.TBL_STOCK_PRICE",
        ),
        [{ TICKER: "SWDY", D: "2025-12-08", CLOSE: 10.5, SOURCE_FILE: "good.csv" }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loading the same files again changes nothing", async () => {
  await withTempWarehouse(async (wh) => {
    await loadFiles(wh, sampleFiles());
    await loadFiles(wh, [localFile(`${DATA}/bad/daily_bad_rows.csv`, "bad.csv")]);
    const snapshot = async () => ({
      prices: await wh.query(
        "SELECT * FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY TICKER, TRADE_DATE, DATA_SOURCE",
      ),
      bars: await wh.query(
        "SELECT count(*) AS N, max(UPDATED_AT) AS U, sum(VOLUME) AS V FROM OPERATIONAL.TBL_INTRADAY_BAR",
      ),
      companies: await wh.query("SELECT * FROM OPERATIONAL.TBL_COMPANY ORDER BY TICKER"),
      members: await wh.query(
        "SELECT * FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP ORDER BY INDEX_CODE, TICKER",
      ),
    });
    const before = await snapshot();
    // New versions (ETags) of the same content: everything is read again, nothing changes.
    const again = [...sampleFiles(), localFile(`${DATA}/bad/daily_bad_rows.csv`, "bad.csv")].map((
      f,
    ) => ({ ...f, etag: "v2" }));
    const out = await loadFiles(wh, again);
    assert.deepEqual(out.filter((o) => o.status !== "LOADED"), []);
    assert.deepEqual(await snapshot(), before);
  });
});

/** The real warehouse, its transactions run through `transaction`. */
function intercepted(wh: Warehouse, transaction: Warehouse["transaction"]): Warehouse {
  return {
    kind: wh.kind,
    query: wh.query.bind(wh),
    migrate: wh.migrate.bind(wh),
    close: wh.close.bind(wh),
    transaction,
  };
}

/** The real warehouse, with a fault injected into the statement matching `failOn`. */
function faulty(wh: Warehouse, failOn: RegExp): Warehouse {
  return intercepted(wh, (fn, opts) =>
    wh.transaction((s) => {
      const inject: Session = {
        query: s.query.bind(s),
        insertRows: s.insertRows.bind(s),
        execute: (sql, params) => {
          if (failOn.test(sql)) {
            return Promise.reject(new WarehouseQueryError("injected failure", sql));
          }
          return s.execute(sql, params);
        },
      };
      return fn(inject);
    }, opts));
}

Deno.test("a file that fails midway leaves nothing half-loaded, and the others still load", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    // The daily aggregate MERGE runs after the bars MERGE and the quarantine insert: fail it.
    const broken = faulty(
      wh,
      /^MERGE INTO OPERATIONAL\.TBL_STOCK_PRICE t\s+USING egx_daily_src/,
    );
    const bad = localFile(`${DATA}/bars_1m/COMI.csv`, "bars_1m/COMI.csv");
    const out = await loadFiles(broken, [
      bad,
      localFile(`${SAMPLE}/index_membership.csv`, "idx.csv"),
    ]);
    assert.deepEqual(out.map((o) => [o.key, o.status]), [
      ["idx.csv", "LOADED"],
      ["bars_1m/COMI.csv", "FAILED"],
    ]);
    assert.match(out[1].error!, /injected failure/);
    const count = async (t: string) =>
      (await wh.query<{ N: number }>(`SELECT count(*) AS N FROM OPERATIONAL.${t}`))[0].N;
    assert.equal(await count("TBL_INTRADAY_BAR"), 0);
    assert.equal(await count("TBL_STOCK_PRICE"), 0);
    assert.equal(await count("TBL_QUARANTINE"), 0);
    assert.equal(await count("TBL_INDEX_MEMBERSHIP"), 22);
    assert.deepEqual(
      await wh.query("SELECT FILE_KEY, STATUS FROM OPERATIONAL.TBL_LOAD_LOG ORDER BY 1"),
      [
        { FILE_KEY: "bars_1m/COMI.csv", STATUS: "FAILED" },
        { FILE_KEY: "companies.csv", STATUS: "LOADED" },
        { FILE_KEY: "idx.csv", STATUS: "LOADED" },
      ],
    );
  });
});

Deno.test("a failing file in a group of bar files is isolated: the other files load", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    const dir = await Deno.makeTempDir({ prefix: "egx_group_" });
    try {
      // A line with too many fields is rejected by the reader; a group with rejected lines is
      // loaded file by file so each keeps exact line numbers.
      await Deno.writeTextFile(
        `${dir}/ABUK.csv`,
        "datetime,open,high,low,close,volume\n2025-11-02 08:00:00,10,11,9,10.5,100\n" +
          "2025-11-02 08:01:00,10,11,9,10.5,100,7\n",
      );
      const out = await loadFiles(wh, [
        localFile(`${dir}/ABUK.csv`, "bars_1m/ABUK.csv"),
        localFile(`${SAMPLE}/bars_1m/EFIH.csv`, "bars_1m/EFIH.csv"),
      ]);
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsQuarantined]), [
        ["bars_1m/ABUK.csv", "LOADED", 2, 1],
        ["bars_1m/EFIH.csv", "LOADED", 20395, 0],
      ]);
      const [[line, reason]] = await quarantine(wh, "bars_1m/ABUK.csv");
      assert.equal(line, 3);
      assert.match(reason, /^malformed CSV line: /);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("in a daily file, a line with a broken quote is quarantined alone and quoted fields parse", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    // One broken quote used to make DuckDB's sniffer read the whole file without quoting (then
    // "40" was an unparsable open), or, quoting forced, run on into the following lines.
    const [dir, files] = await tempFiles({
      "daily.csv": DAILY_HEADER +
        "COMI,2025-12-09,80,82,79,81,100\n" +
        'SWDY,2025-12-10,"76,77,75,76,100\n' +
        '"ETEL",2025-12-10,"40",41,39,40.5,5\n' +
        'SWDY,2025-12-11,7"6,77,75,76,100\r\n' +
        'ETEL,2025-12-11,"4,1",41,39,40,5\n' +
        '"HR""HO",2025-12-11,10,11,9,10,7\n' +
        "ETEL,2025-12-14,41,42,40,41,6\n",
    });
    try {
      const r = await loadWithQuarantine(wh, files);
      assert.deepEqual(r.counts, ["LOADED", 7, 3, 4]);
      assert.deepEqual(
        r.quarantine,
        [
          {
            LINE_NUMBER: 3,
            REASON: "malformed CSV line: unterminated quote",
            RECORD: 'SWDY,2025-12-10,"76,77,75,76,100',
          },
          {
            LINE_NUMBER: 5,
            REASON: "malformed CSV line: stray quote",
            RECORD: 'SWDY,2025-12-11,7"6,77,75,76,100',
          },
          // The quoted value is one field: the reader read 4,1 (and could not make it a number).
          {
            LINE_NUMBER: 6,
            REASON: 'unparsable open "4,1"',
            RECORD: 'ETEL,2025-12-11,"4,1",41,39,40,5',
          },
          {
            LINE_NUMBER: 7,
            REASON: 'invalid ticker "HR"HO"',
            // The record as read (to_json of DuckDB's typed row: doubles print as 10.0).
            RECORD: '{"ticker":"HR\\"HO","trade_date":"2025-12-11","open":10.0,"high":11.0,' +
              '"low":9.0,"close":10.0,"volume":7.0,"egx_file_key":"daily.csv",' +
              `"egx_etag":"${files[0].etag}","egx_ticker":null,"egx_line":7}`,
          },
        ],
      );
      // The other lines load as they would without the broken ones, quoted values included.
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE::VARCHAR AS D, OPEN, HIGH, LOW, CLOSE, VOLUME " +
            "FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1, 2",
        ),
        [
          { TICKER: "COMI", D: "2025-12-09", OPEN: 80, HIGH: 82, LOW: 79, CLOSE: 81, VOLUME: 100 },
          { TICKER: "ETEL", D: "2025-12-10", OPEN: 40, HIGH: 41, LOW: 39, CLOSE: 40.5, VOLUME: 5 },
          { TICKER: "ETEL", D: "2025-12-14", OPEN: 41, HIGH: 42, LOW: 40, CLOSE: 41, VOLUME: 6 },
        ],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("in a company list, a line with a broken quote is quarantined alone and quoted fields parse", async () => {
  await withTempWarehouse(async (wh) => {
    const [dir, files] = await tempFiles({
      "companies.csv": "ticker,company_name,isin,sector\n" +
        "AAAA,A Co,EGS00000A011,Banks\n" +
        'BADQ,"Bad Co,EGS00000B011,Banks\n' +
        'ZZZZ,"Z, Co",EGS00000C011,"Real Estate, Land"\n' +
        'STRY,St"ray Co,EGS00000D011,Banks\r\n' +
        'QQQQ,"Q ""The"" Co",EGS00000E011,Banks\n' +
        'XISN,"X, Co",XX,Banks\n' +
        'PADD, "P, Co" ,EGS00000F011,Banks\n', // spaces around a quoted field are allowed
    });
    try {
      const r = await loadWithQuarantine(wh, files);
      assert.deepEqual(r.counts, ["LOADED", 7, 4, 3]);
      assert.deepEqual(
        r.quarantine,
        [
          {
            LINE_NUMBER: 3,
            REASON: "malformed CSV line: unterminated quote",
            RECORD: 'BADQ,"Bad Co,EGS00000B011,Banks',
          },
          {
            LINE_NUMBER: 5,
            REASON: "malformed CSV line: stray quote",
            RECORD: 'STRY,St"ray Co,EGS00000D011,Banks',
          },
          {
            LINE_NUMBER: 7,
            REASON: 'unparsable ISIN "XX"',
            RECORD: JSON.stringify({
              ticker: "XISN",
              company_name: "X, Co",
              isin: "XX",
              sector: "Banks",
              industry: null,
              is_active: null,
              egx_file_key: "companies.csv",
              egx_etag: files[0].etag,
              egx_ticker: null,
              egx_line: 7,
            }),
          },
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, COMPANY_NAME, ISIN, SECTOR FROM OPERATIONAL.TBL_COMPANY ORDER BY 1",
        ),
        [
          { TICKER: "AAAA", COMPANY_NAME: "A Co", ISIN: "EGS00000A011", SECTOR: "Banks" },
          { TICKER: "PADD", COMPANY_NAME: "P, Co", ISIN: "EGS00000F011", SECTOR: "Banks" },
          { TICKER: "QQQQ", COMPANY_NAME: 'Q "The" Co', ISIN: "EGS00000E011", SECTOR: "Banks" },
          {
            TICKER: "ZZZZ",
            COMPANY_NAME: "Z, Co",
            ISIN: "EGS00000C011",
            SECTOR: "Real Estate, Land",
          },
        ],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

/** Load one file: its outcome's status and row counts, and its quarantine rows in line order. */
async function loadWithQuarantine(wh: Warehouse, files: LocalFile[]) {
  const [o] = await loadFiles(wh, files);
  const quarantine = await wh.query(
    "SELECT LINE_NUMBER, REASON, RECORD FROM OPERATIONAL.TBL_QUARANTINE WHERE FILE_KEY = ? " +
      "ORDER BY 1",
    [files[0].key],
  );
  return { counts: [o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined], quarantine };
}

/** Write `files` (name -> content) under a new temporary folder; returns them as LocalFiles. */
async function tempFiles(files: Record<string, string>): Promise<[string, LocalFile[]]> {
  const dir = await Deno.makeTempDir({ prefix: "egx_files_" });
  const out: LocalFile[] = [];
  for (const [key, text] of Object.entries(files)) {
    const path = `${dir}/${key}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
    out.push(localFile(path, key));
  }
  return [dir, out];
}

const DAILY_HEADER = "ticker,trade_date,open,high,low,close,volume\n";
const BARS_HEADER = "datetime,open,high,low,close,volume\n";

Deno.test("a line cut short is quarantined with the number of fields it has, a cut last line too", async () => {
  const [dir, files] = await tempFiles({
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n` +
      "2025-11-02 08:01:00,10\n2025-11-02 08:02:00,10,11,9,10.5,100\n2025-11-02 08:03:00,10,11,9",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const { counts, quarantine } = await loadWithQuarantine(wh, files);
      assert.deepEqual(counts, ["LOADED", 4, 2, 2]);
      assert.deepEqual(quarantine, [
        {
          LINE_NUMBER: 3,
          REASON: "malformed CSV line: Expected Number of Columns: 6 Found: 2",
          RECORD: "2025-11-02 08:01:00,10",
        },
        {
          LINE_NUMBER: 5,
          REASON: "malformed CSV line: Expected Number of Columns: 6 Found: 4",
          RECORD: "2025-11-02 08:03:00,10,11,9",
        },
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a line with more fields than the header is quarantined, empty extra fields too", async () => {
  const [dir, files] = await tempFiles({
    "daily.csv": DAILY_HEADER +
      "COMI,2025-12-08,10,11,9,10.5,1000,\n" + // 8 fields: the reader would drop the empty one
      "SWDY,2025-12-08,20,21,19,20.5,2000\n" +
      "ETEL,2025-12-08,30,31,29,30.5,\n" + // 7 fields, the volume blank
      "ABUK,2025-12-08,40,41,39,40.5,4000,,\n" +
      "COMI,2025-12-07,10,11,9,10.5,1000,x\n" +
      'HRHO,2025-12-08,50,51,49,50.5,5000,""\n' +
      "COMI,2025-12-04,10,11,9,10.5,1000,", // the last line, without a line break
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const { counts, quarantine } = await loadWithQuarantine(wh, files);
      assert.deepEqual(counts, ["LOADED", 7, 1, 6]);
      assert.deepEqual(quarantine, [
        {
          LINE_NUMBER: 2,
          REASON: "malformed CSV line: Expected Number of Columns: 7 Found: 8",
          RECORD: "COMI,2025-12-08,10,11,9,10.5,1000,",
        },
        {
          LINE_NUMBER: 4,
          REASON: "missing volume",
          RECORD: '{"ticker":"ETEL","trade_date":"2025-12-08","open":30.0,"high":31.0,' +
            '"low":29.0,"close":30.5,"volume":null,"egx_file_key":"daily.csv","egx_etag":"v1",' +
            '"egx_ticker":null,"egx_line":4}',
        },
        {
          LINE_NUMBER: 5,
          REASON: "malformed CSV line: Expected Number of Columns: 7 Found: 9",
          RECORD: "ABUK,2025-12-08,40,41,39,40.5,4000,,",
        },
        {
          LINE_NUMBER: 6,
          REASON: "malformed CSV line: Expected Number of Columns: 7 Found: 8",
          RECORD: "COMI,2025-12-07,10,11,9,10.5,1000,x",
        },
        {
          LINE_NUMBER: 7,
          REASON: "malformed CSV line: Expected Number of Columns: 7 Found: 8",
          RECORD: 'HRHO,2025-12-08,50,51,49,50.5,5000,""',
        },
        {
          LINE_NUMBER: 8,
          REASON: "malformed CSV line: Expected Number of Columns: 7 Found: 8",
          RECORD: "COMI,2025-12-04,10,11,9,10.5,1000,",
        },
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE::VARCHAR AS D, CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE",
        ),
        [{ TICKER: "SWDY", D: "2025-12-08", CLOSE: 20.5, VOLUME: 2000 }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every format: an empty extra field quarantines its line; a header ending with a comma has one more field", async () => {
  // (The company list is loaded from data/sample first; this one adds to it.)
  const [dir, files] = await tempFiles({
    "companies.csv": "ticker,company_name,isin,sector\n" +
      "AAAA,A Co,EGS000000001,Banks\nBBBB,B Co,EGS000000002,Banks,\n",
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100,\r\n` +
      "2025-11-02 08:01:00,10,11,9,10.5,100\r\n",
    "index_membership.csv": "index_code,ticker,effective_from,effective_to,weight,\n" +
      "EGX30,COMI,2025-01-01,,,\nEGX30,SWDY,2025-01-01,,,,\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
        [
          ["companies.csv", "LOADED", 2, 1, 1],
          ["index_membership.csv", "LOADED", 2, 1, 1],
          ["bars_1m/COMI.csv", "LOADED", 2, 1, 1],
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT FILE_KEY, LINE_NUMBER, REASON, RECORD FROM OPERATIONAL.TBL_QUARANTINE " +
            "ORDER BY 1, 2",
        ),
        [
          {
            FILE_KEY: "bars_1m/COMI.csv",
            LINE_NUMBER: 2,
            REASON: "malformed CSV line: Expected Number of Columns: 6 Found: 7",
            RECORD: "2025-11-02 08:00:00,10,11,9,10.5,100,",
          },
          {
            FILE_KEY: "companies.csv",
            LINE_NUMBER: 3,
            REASON: "malformed CSV line: Expected Number of Columns: 4 Found: 5",
            RECORD: "BBBB,B Co,EGS000000002,Banks,",
          },
          {
            FILE_KEY: "index_membership.csv",
            LINE_NUMBER: 3,
            REASON: "malformed CSV line: Expected Number of Columns: 6 Found: 7",
            RECORD: "EGX30,SWDY,2025-01-01,,,,",
          },
        ],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an empty extra field is found in a file without quotes, across the 1 MiB read chunks too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_extra_" });
  try {
    const line = "2025-11-02 08:00:00,10,11,9,10.5,100\n"; // 37 bytes
    const head = BARS_HEADER + line.repeat(Math.floor((1 << 20) / line.length));
    // The ",\n" of a line with an empty 7th field split by the chunk boundary at 1 MiB.
    const cut = head.slice(0, (1 << 20) - 1) + ",\n" + line;
    const lastLine = cut.slice(0, (1 << 20) - 1).split("\n").length;
    const problem = "Expected Number of Columns: 6 Found: 7";
    for (
      const [name, text, broken] of [
        ["none.csv", head, []],
        ["blank_volume.csv", head + "2025-11-02 08:01:00,10,11,9,10.5,\n", []],
        ["cut.csv", cut, [{ line: lastLine, text: cut.split("\n")[lastLine - 1], problem }]],
      ] as const
    ) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      assert.deepEqual(
        await screenLines(`${dir}/${name}`),
        { broken, blank: [], mixedBreaks: false },
        name,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NaN or infinite prices and NaN or huge volumes are quarantined; the rest of the file loads", async () => {
  const [dir, files] = await tempFiles({
    "daily.csv": DAILY_HEADER + "COMI,2025-07-01,inf,82,80,81,100\n" +
      "COMI,2025-06-30,80,nan,80,81,100\nCOMI,2025-06-29,80,82,80,NaN,100\n" +
      "ABUK,2025-06-30,60,61,-inf,60.5,100\nCOMI,2025-07-02,80,82,80,81,1e30\n" +
      "ABUK,2025-07-02,60,61,59,60.5,nan\nABUK,2025-07-01,60,61,59,60.5,7000\n",
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n` +
      "2025-11-02 08:01:00,nan,11,9,10.5,100\n2025-11-02 08:02:00,10,inf,9,10.5,100\n" +
      "2025-11-02 08:03:00,10,11,9,10.5,1e15\n2025-11-02 08:04:00,10,11,9,10.5,inf\n" +
      "2025-11-02 08:05:00,10,11,9,10.5,999999999999999\n",
    "screener.csv": "ticker,snapshot_date,last_price,change_pct,volume,market_cap,pe_ratio," +
      "pb_ratio,dividend_yield,eps_ttm,high_52w,low_52w\nCOMI,2025-12-08,117.6,,1e30,,,,,,,\n" +
      "ETEL,2025-12-08,nan,,100,,,,,,,\nSWDY,2025-12-08,80.1,,nan,,,,,,,\n" +
      "ABUK,2025-12-08,60,,1.89M,,,,,,,\n",
    "financials.csv": "ticker,fiscal_year,fiscal_quarter,period_end,shares_outstanding,eps\n" +
      "COMI,2025,3,2025-09-30,1e19,5\nETEL,2025,3,2025-09-30,nan,1\nABUK,2025,3,2025-09-30,12,inf\n" +
      "SWDY,2025,3,2025-09-30,1262000000,3.25\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [
          ["bars_1m/COMI.csv", "LOADED", 6, 2, 4],
          ["daily.csv", "LOADED", 7, 1, 6],
          ["financials.csv", "LOADED", 4, 1, 3],
          ["screener.csv", "LOADED", 4, 1, 3],
        ],
      );
      assert.deepEqual(await quarantine(wh, "daily.csv"), [
        [2, "price not a finite number"],
        [3, "price not a finite number"],
        [4, "price not a finite number"],
        [5, "price not a finite number"],
        [6, "volume too large (10^15 or more)"],
        [7, "volume not a finite number"],
      ]);
      assert.deepEqual(await quarantine(wh, "bars_1m/COMI.csv"), [
        [3, "price not a finite number"],
        [4, "price not a finite number"],
        [5, "volume too large (10^15 or more)"],
        [6, "volume not a finite number"],
      ]);
      assert.deepEqual(await quarantine(wh, "screener.csv"), [
        [2, "volume too large (10^15 or more)"],
        [3, 'unparsable last_price "nan"'],
        [4, "unparsable volume"],
      ]);
      assert.deepEqual(await quarantine(wh, "financials.csv"), [
        [2, "shares_outstanding too large (10^15 or more)"],
        [3, "unparsable shares_outstanding"],
        [4, "unparsable eps"],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE, DATA_SOURCE, OPEN, CLOSE, VOLUME " +
            "FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY ALL",
        ),
        [
          {
            TICKER: "ABUK",
            TRADE_DATE: "2025-07-01",
            DATA_SOURCE: "BATCH_CSV",
            OPEN: 60,
            CLOSE: 60.5,
            VOLUME: 7000,
          },
          {
            TICKER: "COMI",
            TRADE_DATE: "2025-11-02",
            DATA_SOURCE: "BARS_1M",
            OPEN: 10,
            CLOSE: 10.5,
            VOLUME: 1_000_000_000_000_099, // the largest bar's volume (10^15 - 1) plus 100
          },
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, BAR_START, VOLUME FROM OPERATIONAL.TBL_INTRADAY_BAR ORDER BY BAR_START",
        ),
        [
          { TICKER: "COMI", BAR_START: "2025-11-02T08:00:00.000Z", VOLUME: 100 },
          { TICKER: "COMI", BAR_START: "2025-11-02T08:05:00.000Z", VOLUME: 999_999_999_999_999 },
        ],
      );
      assert.deepEqual(
        await wh.query("SELECT TICKER, VOLUME FROM OPERATIONAL.TBL_MARKET_STAT"),
        [{ TICKER: "ABUK", VOLUME: 1_890_000 }],
      );
      assert.deepEqual(
        await wh.query("SELECT TICKER, SHARES_OUTSTANDING, EPS FROM OPERATIONAL.TBL_FINANCIAL"),
        [{ TICKER: "SWDY", SHARES_OUTSTANDING: 1_262_000_000, EPS: 3.25 }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a price of 10^5 or more is quarantined: the daily fact could not be built over it", async () => {
  // 1e300 (or a price above ~5 * 10^5 for 20 days) loaded, and every later models_run failed at
  // gold_fct_stock_daily_prices (its exact-decimal sums overflow), skipping all the gold layer.
  const [dir, files] = await tempFiles({
    "daily.csv": DAILY_HEADER + "COMI,2025-07-01,1e300,1e300,1e300,1e300,100\n" +
      "COMI,2025-06-30,80,100000,80,81,100\nCOMI,2025-06-29,100000,100000,100000,100000,100\n" +
      "COMI,2025-07-02,99999.99,99999.99,99999.99,99999.99,100\n",
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n` +
      "2025-11-02 08:01:00,10,1e7,9,10.5,100\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
        [["bars_1m/COMI.csv", "LOADED", 2, 1, 1], ["daily.csv", "LOADED", 4, 1, 3]],
      );
      assert.deepEqual(await quarantine(wh, "daily.csv"), [
        [2, "price too large (10^5 or more)"],
        [3, "price too large (10^5 or more)"],
        [4, "price too large (10^5 or more)"],
      ]);
      assert.deepEqual(await quarantine(wh, "bars_1m/COMI.csv"), [
        [3, "price too large (10^5 or more)"],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE, DATA_SOURCE, HIGH FROM OPERATIONAL.TBL_STOCK_PRICE " +
            "ORDER BY ALL",
        ),
        [
          { TICKER: "COMI", TRADE_DATE: "2025-07-02", DATA_SOURCE: "BATCH_CSV", HIGH: 99999.99 },
          { TICKER: "COMI", TRADE_DATE: "2025-11-02", DATA_SOURCE: "BARS_1M", HIGH: 11 },
        ],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an extra column the format does not read never quarantines a row, past the reader's sample too", async () => {
  // DuckDB's reader guesses the type of a column it is not told from the first 20,480 rows: an
  // extra numeric column (adj_close) was read as a number, and a later "n/a" in it quarantined
  // a good row as 'unparsable adj_close "n/a"'.
  const days: string[] = [];
  for (let ms = Date.UTC(1990, 0, 1); days.length < 7000; ms += 86_400_000) {
    const d = new Date(ms);
    if (d.getUTCDay() <= 4) days.push(d.toISOString().slice(0, 10)); // Sunday-Thursday
  }
  const lines = ["COMI", "ETEL", "SWDY"].flatMap((t) =>
    days.map((d) => `${t},${d},80,82,80,81,100,81`)
  );
  lines[lines.length - 1] = lines[lines.length - 1].replace(/,81$/, ",n/a");
  const [dir, files] = await tempFiles({
    "daily.csv": "ticker,trade_date,open,high,low,close,volume,adj_close\n" + lines.join("\n") +
      "\n",
    // The real one-minute bars of TMGH (21,087), each with a VWAP column, the last one "n/a".
    "bars_1m/TMGH.csv": Deno.readTextFileSync(`${SAMPLE}/bars_1m/TMGH.csv`).trimEnd().split("\n")
      .map((l, i, all) => l + (i === 0 ? ",vwap" : i === all.length - 1 ? ",n/a" : ",74.1"))
      .join("\n") + "\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files, { asOf: new Date("2025-12-09T12:00:00Z") });
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
        [
          ["bars_1m/TMGH.csv", "LOADED", 21_087, 21_087, 0],
          ["daily.csv", "LOADED", 21_000, 21_000, 0],
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT DATA_SOURCE, count(*)::INTEGER AS N FROM OPERATIONAL.TBL_STOCK_PRICE " +
            "GROUP BY ALL ORDER BY ALL",
        ),
        [{ DATA_SOURCE: "BARS_1M", N: 95 }, { DATA_SOURCE: "BATCH_CSV", N: 21_000 }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The daily rows stored: ticker, trade date and source, in order. */
const storedDays = (wh: Warehouse) =>
  wh.query("SELECT TICKER, TRADE_DATE, DATA_SOURCE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY ALL");

/** The one-minute bars stored: their start instants. */
const storedBarStarts = (wh: Warehouse) =>
  wh.query("SELECT BAR_START FROM OPERATIONAL.TBL_INTRADAY_BAR ORDER BY BAR_START");

Deno.test("a trade date outside 0001-01-01..9999-12-31 is quarantined, not loaded unchecked", async () => {
  const [dir, files] = await tempFiles({
    "daily.csv": DAILY_HEADER + "COMI,10000-01-07,80,82,80,81,100\n" +
      "COMI,0000-01-07,80,82,80,81,100\nCOMI,2025-07-02,80,82,80,81,100\n",
    // Epoch milliseconds where TradingView gives seconds: the year 57468.
    "exports/EGX_ETEL, 1D.csv": "time,open,high,low,close,Volume\n" +
      "1751356800000,10,11,9,10.5,100\n1751356800,10,11,9,10.5,100\n",
    "bars_1m/COMI.csv": `${BARS_HEADER}10000-01-07 08:00:00,10,11,9,10.5,100\n` +
      "2025-11-02 08:01:00,10,11,9,10.5,100\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [
          ["bars_1m/COMI.csv", "LOADED", 2, 1, 1],
          ["daily.csv", "LOADED", 3, 1, 2],
          ["exports/EGX_ETEL, 1D.csv", "LOADED", 2, 1, 1],
        ],
      );
      assert.deepEqual(await quarantine(wh, "daily.csv"), [
        // A canonical file's dates are read as %Y-%m-%d: a five-digit year does not parse.
        [2, 'unparsable trade_date "10000-01-07"'],
        [3, "trade date out of range 0001-01-01..9999-12-31 (0001-01-07 (BC))"],
      ]);
      assert.deepEqual(await quarantine(wh, "exports/EGX_ETEL, 1D.csv"), [
        [2, "trade date out of range 0001-01-01..9999-12-31 (57468-04-15)"],
      ]);
      assert.deepEqual(await quarantine(wh, "bars_1m/COMI.csv"), [
        [2, "trade date out of range 0001-01-01..9999-12-31 (datetime 10000-01-07 08:00:00)"],
      ]);
      assert.deepEqual(
        await storedDays(wh),
        [
          { TICKER: "COMI", TRADE_DATE: "2025-07-02", DATA_SOURCE: "BATCH_CSV" },
          { TICKER: "COMI", TRADE_DATE: "2025-11-02", DATA_SOURCE: "BARS_1M" },
          { TICKER: "ETEL", TRADE_DATE: "2025-07-01", DATA_SOURCE: "TRADINGVIEW_EXPORT" },
        ],
      );
      assert.deepEqual(
        await storedBarStarts(wh),
        [{ BAR_START: "2025-11-02T08:01:00.000Z" }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a time no instant can hold (epoch microseconds, infinity) is quarantined alone, not failing its file", async () => {
  // to_timestamp failed on epoch micro- or nanoseconds (pandas' int64 times), and the conversion
  // to Cairo time on "infinity" or the year 294247: the whole file FAILED, naming no line.
  const [dir, files] = await tempFiles({
    "exports/EGX_ETEL, 1D.csv": "time,open,high,low,close,Volume\n" +
      "1751356800,10,11,9,10.5,100\n1751443200000000,10,11,9,10.5,100\n" +
      "1751443200000000000,10,11,9,10.5,100\ninfinity,10,11,9,10.5,100\n" +
      "294247-01-10 04:00:00,10,11,9,10.5,100\n",
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-11-02 08:01:00,10,11,9,10.5,100\n` +
      "infinity,10,11,9,10.5,100\n294247-01-10 04:00:00,10,11,9,10.5,100\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined, o.error])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [
          ["bars_1m/COMI.csv", "LOADED", 3, 1, 2, undefined],
          ["exports/EGX_ETEL, 1D.csv", "LOADED", 5, 1, 4, undefined],
        ],
      );
      assert.deepEqual(await quarantine(wh, "exports/EGX_ETEL, 1D.csv"), [
        [3, 'unparsable trade date "1751443200000000"'],
        [4, 'unparsable trade date "1751443200000000000"'],
        [5, 'unparsable trade date "infinity"'],
        [6, 'unparsable trade date "294247-01-10 04:00:00"'],
      ]);
      assert.deepEqual(await quarantine(wh, "bars_1m/COMI.csv"), [
        [3, "trade date out of range 0001-01-01..9999-12-31 (datetime infinity)"],
        [4, "trade date out of range 0001-01-01..9999-12-31 (datetime 294247-01-10 04:00:00)"],
      ]);
      assert.deepEqual(await storedDays(wh), [
        { TICKER: "COMI", TRADE_DATE: "2025-11-02", DATA_SOURCE: "BARS_1M" },
        { TICKER: "ETEL", TRADE_DATE: "2025-07-01", DATA_SOURCE: "TRADINGVIEW_EXPORT" },
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a canonical daily file's dates are ISO: one date in another format is quarantined alone", async () => {
  // DuckDB's reader guesses a date format from the file when none is given: one "12/01/2025"
  // among ISO dates made it read the file as day/month/year, so that row loaded as 2025-01-12
  // and every ISO date was quarantined as unparsable.
  const [dir, files] = await tempFiles({
    "daily.csv": DAILY_HEADER + "COMI,2025-12-07,80,82,80,81,100\n" +
      "COMI,12/01/2025,80,82,80,81,100\nCOMI,2025-12-8,80,82,80,81,100\n" +
      "COMI,2025-12-04T00:00:00,80,82,80,81,100\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files, { asOf: new Date("2025-12-09T12:00:00Z") });
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
        [["daily.csv", "LOADED", 4, 2, 2]],
      );
      assert.deepEqual(await quarantine(wh, "daily.csv"), [
        [3, 'unparsable trade_date "12/01/2025"'],
        [5, 'unparsable trade_date "2025-12-04T00:00:00"'],
      ]);
      assert.deepEqual(await storedDays(wh), [
        { TICKER: "COMI", TRADE_DATE: "2025-12-07", DATA_SOURCE: "BATCH_CSV" },
        { TICKER: "COMI", TRADE_DATE: "2025-12-08", DATA_SOURCE: "BATCH_CSV" },
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a trade date after the as-of date (in Cairo) or before 1990-01-01 is quarantined", async () => {
  const [dir, files] = await tempFiles({
    "daily.csv": DAILY_HEADER + "COMI,2052-12-08,80,82,80,81,100\n" +
      "COMI,1900-01-01,80,82,80,81,100\nCOMI,1989-12-31,80,82,80,81,100\n" +
      "COMI,1990-01-01,80,82,80,81,100\nCOMI,2025-12-09,80,82,80,81,100\n" +
      "COMI,2025-12-10,80,82,80,81,100\n",
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-12-09 08:00:00,10,11,9,10.5,100\n` +
      "2025-12-10 08:00:00,10,11,9,10.5,100\n1989-12-31 08:00:00,10,11,9,10.5,100\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      // 22:30 UTC on 2025-12-08 is already 00:30 on 2025-12-09 in Cairo: the 9th is not future.
      const out = await loadFiles(wh, files, { asOf: new Date("2025-12-08T22:30:00Z") });
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
        [["bars_1m/COMI.csv", "LOADED", 3, 1, 2], ["daily.csv", "LOADED", 6, 2, 4]],
      );
      assert.deepEqual(await quarantine(wh, "daily.csv"), [
        [2, "trade date 2052-12-08 is after the as-of date 2025-12-09"],
        [3, "trade date 1900-01-01 is before the earliest accepted date 1990-01-01"],
        [4, "trade date 1989-12-31 is before the earliest accepted date 1990-01-01"],
        [7, "trade date 2025-12-10 is after the as-of date 2025-12-09"],
      ]);
      assert.deepEqual(await quarantine(wh, "bars_1m/COMI.csv"), [
        [3, "trade date 2025-12-10 is after the as-of date 2025-12-09"],
        [4, "trade date 1989-12-31 is before the earliest accepted date 1990-01-01"],
      ]);
      assert.deepEqual(
        await storedDays(wh),
        [
          { TICKER: "COMI", TRADE_DATE: "1990-01-01", DATA_SOURCE: "BATCH_CSV" },
          { TICKER: "COMI", TRADE_DATE: "2025-12-09", DATA_SOURCE: "BARS_1M" },
          { TICKER: "COMI", TRADE_DATE: "2025-12-09", DATA_SOURCE: "BATCH_CSV" },
        ],
      );
      assert.deepEqual(
        await storedBarStarts(wh),
        [{ BAR_START: "2025-12-09T08:00:00.000Z" }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a one-minute bar's UTC offset is applied; naive and Z times are UTC", async () => {
  const [dir, files] = await tempFiles({
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-12-08 10:00:00+02:00,10,11,9,10.5,100\n` +
      "2025-12-08 08:01:00Z,10,11,9,10.5,100\n2025-12-08 08:02:00,10,11,9,10.5,100\n" +
      "2025-12-08T11:03:00+03:00,10,11,9,10.5,100\n2025-12-08 08:04:00 xyz,10,11,9,10.5,100\n" +
      ",10,11,9,10.5,100\n2025-12-08 16:30:00+02:00,10,11,9,10.5,100\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const { counts, quarantine } = await loadWithQuarantine(wh, files);
      assert.deepEqual(counts, ["LOADED", 7, 4, 3]);
      assert.deepEqual(quarantine.map((q) => [q.LINE_NUMBER, q.REASON]), [
        [6, 'unparsable datetime "2025-12-08 08:04:00 xyz"'],
        [7, "missing datetime"],
        // 14:30 UTC is 16:30 Cairo (the offset dropped, it was 18:30): after the 14:30 close.
        [8, "outside the session (16:30 Cairo, session 10:00-14:30)"],
      ]);
      assert.deepEqual(
        (await wh.query<{ B: string }>(
          "SELECT BAR_START AS B FROM OPERATIONAL.TBL_INTRADAY_BAR ORDER BY 1",
        )).map((r) => r.B),
        [
          "2025-12-08T08:00:00.000Z",
          "2025-12-08T08:01:00.000Z",
          "2025-12-08T08:02:00.000Z",
          "2025-12-08T08:03:00.000Z",
        ],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a naive bar time after one with a zone name is UTC, not in that zone", async () => {
  // DuckDB 1.5's cast to TIMESTAMPTZ kept the zone of a value naming one (Africa/Cairo, EET) for
  // the naive values after it: 08:02 UTC was read as 08:02 Cairo (06:02 UTC) and quarantined
  // as outside the session, or stored two hours off.
  const [dir, files] = await tempFiles({
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-11-03 10:00:00 Africa/Cairo,10,11,9,10.5,100\n` +
      "2025-11-03 08:01:00,10,11,9,10.5,100\n2025-11-03 10:02:00 EET,10,11,9,10.5,100\n" +
      "2025-11-03 08:03:00,10,11,9,10.5,100\n2025-11-03 08:04:00Z,10,11,9,10.5,100\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const { counts, quarantine } = await loadWithQuarantine(wh, files);
      assert.deepEqual(counts, ["LOADED", 5, 5, 0]);
      assert.deepEqual(quarantine, []);
      assert.deepEqual(
        (await storedBarStarts(wh)).map((r) => r.BAR_START),
        [
          "2025-11-03T08:00:00.000Z",
          "2025-11-03T08:01:00.000Z",
          "2025-11-03T08:02:00.000Z",
          "2025-11-03T08:03:00.000Z",
          "2025-11-03T08:04:00.000Z",
        ],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fractional one-minute volumes are whole shares per bar; the day's volume is the sum of the stored bars", async () => {
  // As EXPA's split-adjusted bars: 0.4 + 0.4 + 0.4 + 2.5 = 3.7 raw shares, stored 0 + 0 + 0 + 3.
  const [dir, files] = await tempFiles({
    "bars_1m/EXPA.csv": `${BARS_HEADER}2025-12-08 08:00:00,10,11,9,10.5,0.4\n` +
      "2025-12-08 08:01:00,10,11,9,10.5,0.4\n2025-12-08 08:02:00,10,11,9,10.5,0.4\n" +
      "2025-12-08 08:03:00,10,11,9,10.5,2.5\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const { counts } = await loadWithQuarantine(wh, files);
      assert.deepEqual(counts, ["LOADED", 4, 4, 0]);
      const bars = await wh.query<{ V: number }>(
        "SELECT VOLUME AS V FROM OPERATIONAL.TBL_INTRADAY_BAR ORDER BY BAR_START",
      );
      assert.deepEqual(bars.map((b) => b.V), [0, 0, 0, 3]);
      assert.deepEqual(
        await wh.query(
          "SELECT DATA_SOURCE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'EXPA'",
        ),
        [{ DATA_SOURCE: "BARS_1M", VOLUME: 3 }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("blank lines do not shift the line numbers of the quarantine", async () => {
  const [dir, files] = await tempFiles({
    "daily.csv": DAILY_HEADER + "\nCOMI,2025-07-01,80,82,80,81,100\n\r\n" +
      "COMI,2025-06-30,80,82,80,81,-1\nCOMI,2025-06-29,80,82,80\n\n" +
      'COMI,2025-07-02,"8"0,82,80,81,100\nCOMI,2025-07-02,79,82,80,81,100\n\n',
    // In a group of bar files: the one with a blank line is loaded on its own.
    "bars_1m/COMI.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n\n` +
      "2025-11-02 08:01:00,10,11,9,10.5,-5\n",
    "bars_1m/ETEL.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n` +
      "2025-11-02 08:01:00,10,11,9,10.5,-5\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [
          ["bars_1m/COMI.csv", "LOADED", 2, 1, 1],
          ["bars_1m/ETEL.csv", "LOADED", 2, 1, 1],
          ["daily.csv", "LOADED", 5, 1, 4],
        ],
      );
      assert.deepEqual(await quarantine(wh, "daily.csv"), [
        [5, "negative volume"],
        [6, "malformed CSV line: Expected Number of Columns: 7 Found: 5"],
        [8, "malformed CSV line: stray quote"],
        [9, "open/close outside [low, high]"],
      ]);
      assert.deepEqual(await quarantine(wh, "bars_1m/COMI.csv"), [[4, "negative volume"]]);
      assert.deepEqual(await quarantine(wh, "bars_1m/ETEL.csv"), [[3, "negative volume"]]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE, OPEN FROM OPERATIONAL.TBL_STOCK_PRICE " +
            "WHERE DATA_SOURCE = 'BATCH_CSV'",
        ),
        [{ TICKER: "COMI", TRADE_DATE: "2025-07-01", OPEN: 80 }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("blank lines are found in a file without quotes, across the 1 MiB read chunks too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_blank_" });
  try {
    const line = "2025-11-02 08:00:00,10,11,9,10.5,100\n"; // 37 bytes
    const head = BARS_HEADER + line.repeat(Math.floor((1 << 20) / line.length));
    // The "\n\r\n" of the blank line split by the chunk boundary at 1 MiB.
    const cut = head.slice(0, (1 << 20) - 1) + "\n\r\n" + line;
    for (
      const [name, text, blank] of [
        ["none.csv", head, []],
        ["cut.csv", cut, [cut.slice(0, (1 << 20) - 1).split("\n").length + 1]],
        ["end.csv", head + "\n", [head.split("\n").length]],
      ] as const
    ) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      assert.deepEqual(
        await screenLines(`${dir}/${name}`),
        { broken: [], blank, mixedBreaks: false },
        name,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lines ending both CRLF and LF load; a line with a lone CR is quarantined with its number", async () => {
  const [dir, files] = await tempFiles({
    // CRLF header and rows, then LF rows: DuckDB's sniffer failed the whole file.
    "mixed.csv": DAILY_HEADER.replace("\n", "\r\n") + "COMI,2025-12-07,10,11,9,10.5,1000\r\n" +
      "COMI,2025-12-08,10,11,9,10.5,1000\n" +
      // A lone CR inside a line (the reader took it for a line break).
      "COMI,2025-12-09,10,11\r9,10.5,1000\n" +
      "COMI,2025-12-10,10,11,9,10.5,1000\r\n\r\n" +
      "COMI,2025-12-11,10,12,9,11,1000\n",
    // Lines that all end with LF but for a lone CR: the rest is read from the file itself.
    "lone.csv": DAILY_HEADER + "SWDY,2025-12-07,10,11,9,10.5,1000\n" +
      "SWDY,2025-12-08,10,11,9,10.5,1000\r,\n" + "SWDY,2025-12-09,10,11,9,10.5,1000\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
        [["lone.csv", "LOADED", 3, 2, 1], ["mixed.csv", "LOADED", 5, 4, 1]],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT FILE_KEY, LINE_NUMBER, REASON, RECORD FROM OPERATIONAL.TBL_QUARANTINE " +
            "ORDER BY ALL",
        ),
        [
          {
            FILE_KEY: "lone.csv",
            LINE_NUMBER: 3,
            REASON: "malformed CSV line: carriage return (CR) inside the line",
            RECORD: "SWDY,2025-12-08,10,11,9,10.5,1000\r,",
          },
          {
            FILE_KEY: "mixed.csv",
            LINE_NUMBER: 4,
            REASON: "malformed CSV line: carriage return (CR) inside the line",
            RECORD: "COMI,2025-12-09,10,11\r9,10.5,1000",
          },
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, TRADE_DATE, CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY ALL",
        ),
        [
          { TICKER: "COMI", TRADE_DATE: "2025-12-07", CLOSE: 10.5 },
          { TICKER: "COMI", TRADE_DATE: "2025-12-08", CLOSE: 10.5 },
          { TICKER: "COMI", TRADE_DATE: "2025-12-10", CLOSE: 10.5 },
          { TICKER: "COMI", TRADE_DATE: "2025-12-11", CLOSE: 11 },
          { TICKER: "SWDY", TRADE_DATE: "2025-12-07", CLOSE: 10.5 },
          { TICKER: "SWDY", TRADE_DATE: "2025-12-09", CLOSE: 10.5 },
        ],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("line breaks are screened across the 1 MiB read chunks: CRLF split there, a lone CR, LF then CRLF", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_breaks_" });
  try {
    const line = "2025-11-02 08:00:00,10,11,9,10.5,100\r\n"; // 38 bytes
    const n = Math.floor((1 << 20) / line.length);
    // The CRLF of the line that ends at 1 MiB split by the chunk boundary.
    const head = BARS_HEADER.replace("\n", "\r\n") + line.repeat(n);
    const split = head.slice(0, (1 << 20) - 1);
    const crlf = split + "\r\n" + line;
    const lone = split + "\r" + line; // the CR ends the chunk, the next one starts without LF
    const lines = split.split("\n").length; // the line the boundary falls in
    const mixed = BARS_HEADER + line.replaceAll("\r", "").repeat(n + 1000) + line; // CRLF after 1 MiB
    for (
      const [name, text, broken, mixedBreaks] of [
        ["crlf.csv", crlf, [], false],
        [
          "lone.csv",
          lone,
          [{
            line: lines,
            text: split.slice(split.lastIndexOf("\n") + 1) + "\r" + line.slice(0, -2),
            problem: "carriage return (CR) inside the line",
          }],
          false,
        ],
        ["mixed.csv", mixed, [], true],
      ] as const
    ) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      assert.deepEqual(
        await screenLines(`${dir}/${name}`),
        { broken, blank: [], mixedBreaks },
        name,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one space before a quote and spaces after it parse; two spaces or a tab quarantine the line", async () => {
  const [dir, files] = await tempFiles({
    "companies_spaces.csv": "ticker,company_name,isin,sector\n" +
      'ZZA, "A, Co",,\nZZB,  "B, Co",,\nZZC,\t"C, Co",,\nZZD,"D, Co"   ,,\n' +
      'ZZE,  "E ""x"" Co",,\nZZF, "F ""x"" Co" ,,\nZZG,"G, Co"\t,,\nZZH,Plain,,\n',
  });
  try {
    await withTempWarehouse(async (wh) => {
      const { counts, quarantine } = await loadWithQuarantine(wh, files);
      assert.deepEqual(counts, ["LOADED", 8, 4, 4]);
      assert.deepEqual(quarantine, [
        {
          LINE_NUMBER: 3,
          REASON: "malformed CSV line: quote after more than one space or a tab",
          RECORD: 'ZZB,  "B, Co",,',
        },
        {
          LINE_NUMBER: 4,
          REASON: "malformed CSV line: quote after more than one space or a tab",
          RECORD: 'ZZC,\t"C, Co",,',
        },
        {
          LINE_NUMBER: 6,
          REASON: "malformed CSV line: quote after more than one space or a tab",
          RECORD: 'ZZE,  "E ""x"" Co",,',
        },
        {
          LINE_NUMBER: 8,
          REASON: "malformed CSV line: tab after a closing quote",
          RECORD: 'ZZG,"G, Co"\t,,',
        },
      ]);
      assert.deepEqual(
        await wh.query("SELECT TICKER, COMPANY_NAME FROM OPERATIONAL.TBL_COMPANY ORDER BY 1"),
        [
          { TICKER: "ZZA", COMPANY_NAME: "A, Co" },
          { TICKER: "ZZD", COMPANY_NAME: "D, Co" },
          { TICKER: "ZZF", COMPANY_NAME: 'F "x" Co' },
          { TICKER: "ZZH", COMPANY_NAME: "Plain" },
        ],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key in two files of one group loads as if the files came one after the other", async () => {
  const [dir, files] = await tempFiles({
    "a.csv": `${DAILY_HEADER}COMI,2025-06-29,80,82,79,81,100\n`,
    "b.csv": `${DAILY_HEADER}COMI,2025-06-29,80,82,79,81.5,200\nETEL,2025-06-29,40,41,39,40,5\n`,
    "c1.csv": "ticker,company_name,isin,sector\nZZZA,Z Co,,\n",
    "c2.csv": "ticker,company_name,isin,sector\nZZZA,Z Co renamed,,\n",
    "day1/ABUK.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n`,
    "day2/ABUK.csv": `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.6,300\n`,
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsLoaded, o.rowsQuarantined]), [
        ["c1.csv", "LOADED", 1, 0],
        ["c2.csv", "LOADED", 1, 0],
        ["a.csv", "LOADED", 1, 0],
        ["b.csv", "LOADED", 2, 0],
        ["day1/ABUK.csv", "LOADED", 1, 0],
        ["day2/ABUK.csv", "LOADED", 1, 0],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, DATA_SOURCE, CLOSE, VOLUME, SOURCE_FILE FROM OPERATIONAL.TBL_STOCK_PRICE " +
            "ORDER BY 1",
        ),
        [
          {
            TICKER: "ABUK",
            DATA_SOURCE: "BARS_1M",
            CLOSE: 10.6,
            VOLUME: 300,
            SOURCE_FILE: "day2/ABUK.csv",
          },
          {
            TICKER: "COMI",
            DATA_SOURCE: "BATCH_CSV",
            CLOSE: 81.5,
            VOLUME: 200,
            SOURCE_FILE: "b.csv",
          },
          { TICKER: "ETEL", DATA_SOURCE: "BATCH_CSV", CLOSE: 40, VOLUME: 5, SOURCE_FILE: "b.csv" },
        ],
      );
      assert.deepEqual(
        await wh.query("SELECT CLOSE, SOURCE_FILE FROM OPERATIONAL.TBL_INTRADAY_BAR"),
        [{ CLOSE: 10.6, SOURCE_FILE: "day2/ABUK.csv" }],
      );
      assert.deepEqual(
        await wh.query("SELECT COMPANY_NAME FROM OPERATIONAL.TBL_COMPANY WHERE TICKER = 'ZZZA'"),
        [{ COMPANY_NAME: "Z Co renamed" }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("files of one format but two headers load in key order: the later file wins", async () => {
  // b.csv has an extra column, so a.csv and c.csv shared a group that loaded before b.csv: the
  // stored close was b.csv's 81.5, not the later c.csv's 82. Company lists likewise.
  const [dir, files] = await tempFiles({
    "a.csv": `${DAILY_HEADER}COMI,2025-06-29,80,82,79,81,100\n`,
    "b.csv":
      "ticker,trade_date,open,high,low,close,volume,note\nCOMI,2025-06-29,80,82,79,81.5,200,x\n",
    "c.csv": `${DAILY_HEADER}COMI,2025-06-29,80,82,79,82,300\nETEL,2025-06-29,40,41,39,40,5\n`,
    "c1.csv": "ticker,company_name,isin,sector\nZZZA,Z Co,,\n",
    "c2.csv": "ticker,company_name,isin,sector,industry\nZZZA,Z Co renamed,,,\n",
    "c3.csv": "ticker,company_name,isin,sector\nZZZA,Z Co renamed again,,\n",
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const out = await loadFiles(wh, files);
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsLoaded, o.rowsQuarantined]), [
        ["c1.csv", "LOADED", 1, 0],
        ["c2.csv", "LOADED", 1, 0],
        ["c3.csv", "LOADED", 1, 0],
        ["a.csv", "LOADED", 1, 0],
        ["b.csv", "LOADED", 1, 0],
        ["c.csv", "LOADED", 2, 0],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, CLOSE, VOLUME, SOURCE_FILE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1",
        ),
        [
          { TICKER: "COMI", CLOSE: 82, VOLUME: 300, SOURCE_FILE: "c.csv" },
          { TICKER: "ETEL", CLOSE: 40, VOLUME: 5, SOURCE_FILE: "c.csv" },
        ],
      );
      assert.deepEqual(
        await wh.query("SELECT COMPANY_NAME FROM OPERATIONAL.TBL_COMPANY WHERE TICKER = 'ZZZA'"),
        [{ COMPANY_NAME: "Z Co renamed again" }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("landing files load in code point order: prices_fix.csv after prices.csv, and wins", async () => {
  // In a locale's collation (localeCompare) `_` sorts before `.`: prices_fix.csv loaded first
  // and the original's close was stored.
  const dir = await Deno.makeTempDir({ prefix: "egx_landing_order_" });
  try {
    await Deno.copyFile(`${SAMPLE}/companies.csv`, `${dir}/companies.csv`);
    await Deno.writeTextFile(
      `${dir}/prices.csv`,
      `${DAILY_HEADER}COMI,2025-12-08,10,11,9,10.5,100\n`,
    );
    await Deno.writeTextFile(
      `${dir}/prices_fix.csv`,
      `${DAILY_HEADER}COMI,2025-12-08,10,11,9,10.7,100\n`,
    );
    const landing = new LocalLanding(dir);
    await withTempWarehouse(async (wh) => {
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => p.key), [
        "companies.csv",
        "prices.csv",
        "prices_fix.csv",
      ]);
      const out = await runBatch(wh, landing, pending, { progress: false });
      assert.deepEqual(out.map((o) => [o.key, o.status]), [
        ["companies.csv", "LOADED"],
        ["prices.csv", "LOADED"],
        ["prices_fix.csv", "LOADED"],
      ]);
      assert.deepEqual(
        await wh.query("SELECT CLOSE, SOURCE_FILE FROM OPERATIONAL.TBL_STOCK_PRICE"),
        [{ CLOSE: 10.7, SOURCE_FILE: "prices_fix.csv" }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keys compare by code point, as S3 lists them: U+FF5E before U+1F600", () => {
  const keys = ["b.csv", "a\u{1F600}.csv", "a\uFF5E.csv", "a_.csv", "a.csv", "a", "B.csv"];
  // UTF-16 units would put U+FF5E after U+1F600 (0xD83D 0xDE00).
  assert.deepEqual(keys.sort(compareKeys), [
    "B.csv",
    "a",
    "a.csv",
    "a_.csv",
    "a\uFF5E.csv",
    "a\u{1F600}.csv",
    "b.csv",
  ]);
  // The same order as the keys' UTF-8 bytes (S3's order).
  const utf8 = (k: string) =>
    [...new TextEncoder().encode(k)].map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.deepEqual(keys.map(utf8), keys.map(utf8).sort());
});

Deno.test("a file whose name holds glob characters loads itself, not the files its name matches", async () => {
  // DuckDB read `prices_[1].csv` as a pattern matching prices_1.csv: SWDY was never stored, yet
  // the file was recorded LOADED; in one group with daily_1.csv, `daily_[12].csv` read
  // daily_1.csv again and both copies of its row were quarantined as duplicates.
  const dir = await Deno.makeTempDir({ prefix: "egx_landing_glob_" });
  const land = `${dir}/land`;
  try {
    await Deno.mkdir(land);
    await Deno.copyFile(`${SAMPLE}/companies.csv`, `${land}/companies.csv`);
    await Deno.writeTextFile(
      `${land}/prices_1.csv`,
      `${DAILY_HEADER}COMI,2025-12-08,10,11,9,10.5,100\n`,
    );
    const landing = new LocalLanding(land);
    const opts = { progress: false as const, tmpDir: `${dir}/tmp` };
    await withTempWarehouse(async (wh) => {
      await runBatch(wh, landing, await pendingObjects(wh, landing), opts);
      await Deno.writeTextFile(
        `${land}/prices_[1].csv`,
        `${DAILY_HEADER}SWDY,2025-12-08,20,21,19,20.5,200\n`,
      );
      const out = await runBatch(wh, landing, await pendingObjects(wh, landing), opts);
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded]), [
        ["prices_[1].csv", "LOADED", 1, 1],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, CLOSE, SOURCE_FILE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 1",
        ),
        [
          { TICKER: "COMI", CLOSE: 10.5, SOURCE_FILE: "prices_1.csv" },
          { TICKER: "SWDY", CLOSE: 20.5, SOURCE_FILE: "prices_[1].csv" },
        ],
      );
      // The load log names the file and counts its own row.
      assert.deepEqual(
        await wh.query(
          "SELECT FILE_KEY, STATUS, ROWS_READ AS R, ROWS_LOADED AS L, ROWS_QUARANTINED AS Q " +
            "FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY <> 'companies.csv' ORDER BY 1",
        ),
        [
          { FILE_KEY: "prices_1.csv", STATUS: "LOADED", R: 1, L: 1, Q: 0 },
          { FILE_KEY: "prices_[1].csv", STATUS: "LOADED", R: 1, L: 1, Q: 0 },
        ],
      );

      // Two files in one group; a bad row of the glob-named one is quarantined under its name.
      await Deno.writeTextFile(
        `${land}/daily_1.csv`,
        `${DAILY_HEADER}COMI,2025-12-09,10,11,9,10.6,100\n`,
      );
      await Deno.writeTextFile(
        `${land}/daily_[12].csv`,
        `${DAILY_HEADER}SWDY,2025-12-09,20,21,19,20.6,200\nSWDY,2025-12-10,20,19,21,20.6,200\n`,
      );
      const group = await runBatch(wh, landing, await pendingObjects(wh, landing), opts);
      assert.deepEqual(group.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded]), [
        ["daily_1.csv", "LOADED", 1, 1],
        ["daily_[12].csv", "LOADED", 2, 1],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT TICKER, CLOSE, SOURCE_FILE FROM OPERATIONAL.TBL_STOCK_PRICE " +
            "WHERE TRADE_DATE = '2025-12-09' ORDER BY 1",
        ),
        [
          { TICKER: "COMI", CLOSE: 10.6, SOURCE_FILE: "daily_1.csv" },
          { TICKER: "SWDY", CLOSE: 20.6, SOURCE_FILE: "daily_[12].csv" },
        ],
      );
      assert.deepEqual(
        await wh.query("SELECT FILE_KEY, LINE_NUMBER, REASON FROM OPERATIONAL.TBL_QUARANTINE"),
        [
          { FILE_KEY: "daily_[12].csv", LINE_NUMBER: 3, REASON: "high < low" },
        ],
      );
      // The copies DuckDB read are gone.
      assert.deepEqual([...Deno.readDirSync(`${dir}/tmp`)], []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a glob-named file fails, naming the folder, when its copy's folder holds glob characters too", async () => {
  const [dir, files] = await tempFiles({
    "a[1].csv": `${DAILY_HEADER}COMI,2025-12-08,10,11,9,10.5,100\n`,
  });
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const [o] = await loadFiles(wh, files, { tmpDir: `${dir}/tmp[2]` });
      assert.equal(o.status, "FAILED");
      assert.equal(
        o.error!.replace(/egx_name_\w+\.csv/, "egx_name_X.csv"),
        `a[1].csv: DuckDB would read its copy ${dir}/tmp[2]/egx_name_X.csv as a pattern: ` +
          "the temporary folder's path must not hold * ? [ ] { }",
      );
      assert.deepEqual([...Deno.readDirSync(`${dir}/tmp[2]`)], []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("files of one format load in groups of at most maxGroupFiles", async () => {
  const tickers = ["ABUK", "COMI", "EFIH", "ETEL", "FWRY"];
  const [dir, files] = await tempFiles(Object.fromEntries(
    tickers.map((
      t,
    ) => [`bars_1m/${t}.csv`, `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n`]),
  ));
  try {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const labels: string[] = [];
      const watched = intercepted(wh, (fn, opts) => {
        labels.push(opts?.label ?? "");
        return wh.transaction(fn, opts);
      });
      const out = await loadFiles(watched, files, { maxGroupFiles: 2 });
      assert.deepEqual(out.map((o) => o.status), tickers.map(() => "LOADED"));
      assert.deepEqual(labels, [
        "batch_load 2 bars_1m files",
        "batch_load 2 bars_1m files",
        "batch_load bars_1m/FWRY.csv",
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a batch load, a model run and a stream writer on one DuckDB file at once all succeed", async () => {
  await withTempWarehouse(async (wh, path) => {
    // The stream consumer's kind of writes: many small transactions from another process.
    const writer = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-ffi",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        WRITER,
        path,
        "S",
        "60",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The models_run job in a third process (in a copy of models/, so target/ stays there).
    const work = await Deno.makeTempDir({ prefix: "egx_models_run_" });
    await copyDir(`${ROOT}models`, `${work}/models`);
    const models = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--config=${ROOT}deno.json`,
        "-A",
        `${ROOT}jobs/models_run.ts`,
        "--select",
        "staging",
      ],
      cwd: work,
      env: { EGX_WAREHOUSE: path },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const out = await loadFiles(wh, sampleFiles());
      const [w, m] = await Promise.all([writer.output(), models.output()]);
      const dec = new TextDecoder();
      assert.equal(w.code, 0, dec.decode(w.stderr));
      assert.equal(dec.decode(w.stdout), "done 60\n");
      assert.equal(m.code, 0, dec.decode(m.stdout) + dec.decode(m.stderr));
      assert.match(dec.decode(m.stdout), /models_run: 6 model\(s\): 6 ok, 0 failed, 0 skipped/);
      assert.deepEqual(out.filter((o) => o.status !== "LOADED"), []);
      const [{ N }] = await wh.query<{ N: number }>(
        "SELECT count(*) AS N FROM OPERATIONAL.TBL_STREAM_OFFSET WHERE CONSUMER_GROUP = 'S'",
      );
      assert.equal(N, 60);
      const [{ B }] = await wh.query<{ B: number }>(
        "SELECT count(*) AS B FROM OPERATIONAL.TBL_INTRADAY_BAR",
      );
      assert.equal(B, 225_573);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  });
});

Deno.test("pending files are new or changed versions; a loaded version is not pending", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_landing_" });
  try {
    await Deno.mkdir(`${dir}/bars_1m`);
    await Deno.copyFile(`${SAMPLE}/companies.csv`, `${dir}/companies.csv`);
    await Deno.copyFile(`${DATA}/bars_1m/COMI.csv`, `${dir}/bars_1m/COMI.csv`);
    await Deno.writeTextFile(`${dir}/README.txt`, "not data");
    const landing = new LocalLanding(dir);
    await withTempWarehouse(async (wh) => {
      const first = await pendingObjects(wh, landing);
      assert.deepEqual(first.map((p) => [p.key, p.change]), [
        ["bars_1m/COMI.csv", "new"],
        ["companies.csv", "new"],
      ]);
      const lines: string[] = [];
      const out = await runBatch(wh, landing, first, {
        progress: { tty: false, intervalMs: 0, write: (t) => lines.push(t) },
      });
      assert.deepEqual(out.map((o) => o.status), ["LOADED", "LOADED"]);
      // A line per file (intervalMs 0), the last not repeated by the final line.
      assert.equal(lines.length, 2, lines.join(""));
      assert.match(lines[1], /^batch_load: 2\/2 files, 236 rows, [\d,]+ rows\/s, done\n$/);
      assert.deepEqual(await pendingObjects(wh, landing), []);
      await Deno.writeTextFile(
        `${dir}/bars_1m/COMI.csv`,
        "\n2025-11-03 08:00:00,99.0,99.5,98.5,99.1,700\n",
        { append: true },
      );
      const again = await pendingObjects(wh, landing);
      assert.deepEqual(again.map((p) => [p.key, p.change]), [["bars_1m/COMI.csv", "changed"]]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A landing folder with the company list and `bars` as bars_1m/COMI.csv. */
async function comiLanding(bars: string): Promise<[string, LocalLanding]> {
  const dir = await Deno.makeTempDir({ prefix: "egx_landing_" });
  await Deno.mkdir(`${dir}/bars_1m`);
  await Deno.copyFile(`${SAMPLE}/companies.csv`, `${dir}/companies.csv`);
  await Deno.writeTextFile(`${dir}/bars_1m/COMI.csv`, bars);
  return [dir, new LocalLanding(dir)];
}

const COMI_BARS = `${BARS_HEADER}2025-11-02 08:00:00,10,11,9,10.5,100\n`;
const COMI_BARS_B = `${COMI_BARS}2025-11-02 08:01:00,10.5,11,10,10.8,50\n` +
  "2025-11-02 08:02:00,10.8,10,11,10.9,70\n";

Deno.test("a local landing folder follows symbolic links to files and folders, once each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx-landing-links-" });
  try {
    await Deno.mkdir(`${dir}/elsewhere/bars`, { recursive: true });
    await Deno.mkdir(`${dir}/landing`);
    await Deno.writeTextFile(`${dir}/elsewhere/companies.csv`, "ticker\n");
    await Deno.writeTextFile(`${dir}/elsewhere/bars/COMI.csv`, "x\n");
    await Deno.symlink(`${dir}/elsewhere/companies.csv`, `${dir}/landing/companies.csv`);
    await Deno.symlink(`${dir}/elsewhere/bars`, `${dir}/landing/bars_1m`);
    await Deno.symlink(`${dir}/landing`, `${dir}/landing/loop`); // walked once
    await Deno.symlink(`${dir}/gone.csv`, `${dir}/landing/gone.csv`); // dangling: nothing
    const listed = await new LocalLanding(`${dir}/landing`).list();
    const st = await Deno.stat(`${dir}/elsewhere/companies.csv`);
    assert.deepEqual(listed.map((o) => [o.key, o.size]), [
      ["bars_1m/COMI.csv", 2],
      ["companies.csv", 7],
    ]);
    // The version of the file the link names: size, mtime, ctime (whole seconds) and inode.
    assert.equal(
      listed[1].etag,
      `7-${st.mtime!.getTime()}-${Math.floor(st.ctime!.getTime() / 1000)}-${st.ino}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a landing file rewritten after listing is recorded as the version that was read", async () => {
  const [dir, landing] = await comiLanding(COMI_BARS);
  try {
    await withTempWarehouse(async (wh) => {
      const pending = await pendingObjects(wh, landing);
      const listed = pending.find((p) => p.key === "bars_1m/COMI.csv")!.etag;
      // Rewritten (another size, a later mtime) between s3_check's listing and the load.
      await Deno.writeTextFile(`${dir}/bars_1m/COMI.csv`, COMI_BARS_B);
      await Deno.utime(`${dir}/bars_1m/COMI.csv`, 1_800_000_000, 1_800_000_000);
      const read = (await landing.list()).find((o) => o.key === "bars_1m/COMI.csv")!;
      assert.notEqual(read.etag, listed);
      const out = await runBatch(wh, landing, pending, { progress: false });
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.etag, o.rowsRead, o.rowsQuarantined]),
        [["companies.csv", "LOADED", pending[1].etag, 223, 0], [
          "bars_1m/COMI.csv",
          "LOADED",
          read.etag,
          3,
          1,
        ]],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT ETAG, SIZE_BYTES, STATUS, ROWS_READ, ROWS_LOADED, ROWS_QUARANTINED " +
            "FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = 'bars_1m/COMI.csv'",
        ),
        [{
          ETAG: read.etag,
          SIZE_BYTES: read.size,
          STATUS: "LOADED",
          ROWS_READ: 3,
          ROWS_LOADED: 2,
          ROWS_QUARANTINED: 1,
        }],
      );
      assert.deepEqual(
        await wh.query("SELECT ETAG, LINE_NUMBER FROM OPERATIONAL.TBL_QUARANTINE"),
        [{ ETAG: read.etag, LINE_NUMBER: 4 }],
      );
      // The version read is the one recorded: nothing is pending, nothing loads twice.
      assert.deepEqual(await pendingObjects(wh, landing), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a landing file that changes while it is read is not loaded and is recorded as failed", async () => {
  const [dir, landing] = await comiLanding(COMI_BARS);
  try {
    await withTempWarehouse(async (wh) => {
      const listed = await pendingObjects(wh, landing);
      await runBatch(wh, landing, listed.filter((p) => p.key === "companies.csv"), {
        progress: false,
      });
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => p.key), ["bars_1m/COMI.csv"]);
      // The file is rewritten after DuckDB read it, before the load commits.
      const path = `${dir}/bars_1m/COMI.csv`;
      const changing = intercepted(wh, (fn, opts) =>
        wh.transaction(async (s) => {
          await Deno.writeTextFile(path, COMI_BARS_B);
          await Deno.utime(path, 1_800_000_000, 1_800_000_000);
          return await fn(s);
        }, opts));
      const [o] = await runBatch(changing, landing, pending, { progress: false });
      assert.equal(o.status, "FAILED");
      assert.match(
        o.error!,
        /^bars_1m\/COMI\.csv: changed while it was being loaded \(version \S+, now \S+\): not loaded; the next load reads it again$/,
      );
      const count = async (t: string) =>
        (await wh.query<{ N: number }>(`SELECT count(*) AS N FROM OPERATIONAL.${t}`))[0].N;
      assert.equal(await count("TBL_INTRADAY_BAR"), 0);
      assert.equal(await count("TBL_QUARANTINE"), 0);
      // Its new version is pending and loads completely.
      const again = await pendingObjects(wh, landing);
      assert.deepEqual(again.map((p) => [p.key, p.change]), [["bars_1m/COMI.csv", "new"]]);
      const [loaded] = await runBatch(wh, landing, again, { progress: false });
      assert.deepEqual([loaded.status, loaded.rowsRead, loaded.rowsQuarantined], ["LOADED", 3, 1]);
      assert.equal(await count("TBL_INTRADAY_BAR"), 2);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Wait until the clock is past the second of `path`'s last change: Deno reports a file's change
 * time (ctime) in whole seconds, so a change within that second would not show. (20 ms more: the
 * kernel stamps files from a clock that may lag the one Date.now() reads by a tick.)
 */
async function pastChangeSecond(path: string): Promise<void> {
  const st = await Deno.stat(path);
  const wait = (Math.floor(st.ctime!.getTime() / 1000) + 1) * 1000 + 20 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** A landing folder with the sample's companies and a one-row daily file closing at `close`. */
async function dailyLanding(close: string): Promise<[string, LocalLanding]> {
  const dir = await Deno.makeTempDir({ prefix: "egx_landing_same_" });
  await Deno.copyFile(`${SAMPLE}/companies.csv`, `${dir}/companies.csv`);
  await Deno.writeTextFile(`${dir}/daily.csv`, comiDay(close));
  return [dir, new LocalLanding(dir)];
}

/** COMI's 2025-12-08 as a canonical daily file; closes of one length give files of one size. */
const comiDay = (close: string) =>
  `${DAILY_HEADER}COMI,2025-12-08,116.21,117.85,116.21,${close},1889311\n`;

async function comiCloses(wh: Warehouse): Promise<number[]> {
  const rows = await wh.query<{ C: number }>(
    "SELECT CLOSE AS C FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'COMI'",
  );
  return rows.map((r) => r.C);
}

Deno.test("a landing file rewritten with the same size and modification time loads again; an untouched one does not", async () => {
  const [dir, landing] = await dailyLanding("117.60");
  const path = `${dir}/daily.csv`;
  try {
    await withTempWarehouse(async (wh) => {
      const first = await runBatch(wh, landing, await pendingObjects(wh, landing), {
        progress: false,
      });
      assert.deepEqual(first.map((o) => [o.key, o.status, o.rowsLoaded]), [
        ["companies.csv", "LOADED", 223],
        ["daily.csv", "LOADED", 1],
      ]);
      assert.deepEqual(await comiCloses(wh), [117.6]);
      // Untouched: nothing is pending, however often it is checked.
      assert.deepEqual(await pendingObjects(wh, landing), []);
      assert.deepEqual(await pendingObjects(wh, landing), []);

      // Rewritten in place with the same size, its modification time set back (`cp -p` onto
      // it, `touch -d`): only its change time tells, so a second after its last change.
      const before = await Deno.stat(path);
      await pastChangeSecond(path);
      await Deno.writeTextFile(path, comiDay("117.70"));
      await Deno.utime(path, before.atime!, before.mtime!);
      const after = await Deno.stat(path);
      assert.deepEqual(
        [after.size, after.mtime!.getTime(), after.ino],
        [before.size, before.mtime!.getTime(), before.ino],
      );
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change]), [["daily.csv", "changed"]]);
      const again = await runBatch(wh, landing, pending, { progress: false });
      assert.deepEqual(again.map((o) => [o.key, o.status, o.rowsLoaded]), [
        ["daily.csv", "LOADED", 1],
      ]);
      assert.deepEqual(await comiCloses(wh), [117.7]);
      assert.deepEqual(await pendingObjects(wh, landing), []);

      // Replaced at once by another file of the same size and modification time (`rsync -t`
      // writes aside and renames over): another inode, even within the same second.
      await Deno.writeTextFile(`${path}.tmp`, comiDay("117.80"));
      await Deno.utime(`${path}.tmp`, before.atime!, before.mtime!);
      await Deno.rename(`${path}.tmp`, path);
      const replaced = await pendingObjects(wh, landing);
      assert.deepEqual(replaced.map((p) => [p.key, p.change]), [["daily.csv", "changed"]]);
      await runBatch(wh, landing, replaced, { progress: false });
      assert.deepEqual(await comiCloses(wh), [117.8]);
      assert.deepEqual(await pendingObjects(wh, landing), []);
      // Each version read is in the load log; the untouched file was loaded once.
      assert.deepEqual(
        await wh.query(
          "SELECT FILE_KEY, count(*)::INTEGER AS N FROM OPERATIONAL.TBL_LOAD_LOG " +
            "WHERE STATUS = 'LOADED' GROUP BY 1 ORDER BY 1",
        ),
        [{ FILE_KEY: "companies.csv", N: 1 }, { FILE_KEY: "daily.csv", N: 3 }],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a landing file restored to a version loaded before a later one loads again", async () => {
  const [dir, landing] = await dailyLanding("117.60");
  const path = `${dir}/daily.csv`;
  try {
    await withTempWarehouse(async (wh) => {
      const load = async () => {
        const pending = await pendingObjects(wh, landing);
        await runBatch(wh, landing, pending, { progress: false });
        return [pending.map((p) => [p.key, p.change]), await comiCloses(wh)];
      };
      assert.deepEqual(await load(), [[["companies.csv", "new"], ["daily.csv", "new"]], [117.6]]);
      // Kept aside as `cp -p` keeps it (size and modification time), then rewritten.
      const first = await Deno.stat(path);
      await Deno.copyFile(path, `${dir}/daily.csv.bak`);
      await Deno.writeTextFile(path, comiDay("117.70"));
      assert.deepEqual(await load(), [[["daily.csv", "changed"]], [117.7]]);
      // Restored with `cp -p`: the first version's content, size and modification time, but its
      // change time is now, so its version is neither loaded one. (Past the second of the last
      // change: within it, a rewrite keeping size and modification time is not seen, README.)
      await pastChangeSecond(path);
      await Deno.copyFile(`${dir}/daily.csv.bak`, path);
      await Deno.utime(path, first.atime!, first.mtime!);
      assert.deepEqual(await load(), [[["daily.csv", "changed"]], [117.6]]);
      assert.deepEqual(await pendingObjects(wh, landing), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file recorded as <size>-<mtime> by an earlier release is not loaded again unless it changed after that load", async () => {
  const [dir, landing] = await dailyLanding("117.60");
  const path = `${dir}/daily.csv`;
  try {
    // Loaded (a second after both files were written) by a release whose version of a local
    // file was `<size>-<mtime ms>`.
    await pastChangeSecond(path);
    const legacy = async (key: string): Promise<LocalFile> => {
      const st = await Deno.stat(`${dir}/${key}`);
      return {
        key,
        path: `${dir}/${key}`,
        etag: `${st.size}-${st.mtime!.getTime()}`,
        size: st.size,
      };
    };
    await withTempWarehouse(async (wh) => {
      const old = await loadFiles(wh, [await legacy("companies.csv"), await legacy("daily.csv")]);
      assert.deepEqual(old.map((o) => o.status), ["LOADED", "LOADED"]);
      // After the upgrade: neither changed since that load, so neither loads again (every file
      // of the folder would, once, if the old versions were no longer understood).
      assert.deepEqual(await pendingObjects(wh, landing), []);
      // Rewritten with the same size and modification time after that load: loaded, and
      // recorded under its full version from then on.
      const before = await Deno.stat(path);
      await Deno.writeTextFile(path, comiDay("117.70"));
      await Deno.utime(path, before.atime!, before.mtime!);
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change]), [["daily.csv", "changed"]]);
      await runBatch(wh, landing, pending, { progress: false });
      assert.deepEqual(await comiCloses(wh), [117.7]);
      assert.deepEqual(await pendingObjects(wh, landing), []);
      assert.deepEqual(
        (await wh.query<{ E: string }>(
          "SELECT ETAG AS E FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = 'daily.csv' " +
            "ORDER BY STARTED_AT",
        )).map((r) => r.E.split("-").length),
        [2, 4],
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("files of one scan load in modification-time order, then key order: a browser's re-download 'daily (1).csv' wins over the older 'daily.csv'", async () => {
  // By key alone, "daily (1).csv" (space, U+0020) loaded before "daily.csv" (".", U+002E), so the
  // older download's close was what stayed: a later file's row replaces an earlier one's.
  const [dir, landing] = await dailyLanding("117.60");
  try {
    await Deno.writeTextFile(`${dir}/daily (1).csv`, comiDay("117.70"));
    await Deno.writeTextFile(`${dir}/daily (2).csv`, comiDay("117.80"));
    const at = (iso: string) => new Date(iso);
    await Deno.utime(`${dir}/daily.csv`, at("2025-12-08T12:00:00Z"), at("2025-12-08T12:00:00Z"));
    await Deno.utime(
      `${dir}/daily (1).csv`,
      at("2025-12-08T13:00:00Z"),
      at("2025-12-08T13:00:00Z"),
    );
    // The same modification time as "daily (1).csv": key order between the two.
    await Deno.utime(
      `${dir}/daily (2).csv`,
      at("2025-12-08T13:00:00Z"),
      at("2025-12-08T13:00:00Z"),
    );
    await Deno.utime(
      `${dir}/companies.csv`,
      at("2025-12-09T00:00:00Z"),
      at("2025-12-09T00:00:00Z"),
    );
    await withTempWarehouse(async (wh) => {
      const pending = await pendingObjects(wh, landing);
      const out = await runBatch(wh, landing, pending, { progress: false });
      assert.deepEqual(await comiCloses(wh), [117.8]);
      // Reference data first whatever its time, as before.
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsLoaded]), [
        ["companies.csv", "LOADED", 223],
        ["daily.csv", "LOADED", 1],
        ["daily (1).csv", "LOADED", 1],
        ["daily (2).csv", "LOADED", 1],
      ]);
      const rows = await wh.query(
        "SELECT SOURCE_FILE AS F FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'COMI'",
      );
      assert.deepEqual(rows, [{ F: "daily (2).csv" }]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("progress shows rows/s and an ETA on a terminal, plain lines otherwise", () => {
  let t = 0;
  const out: string[] = [];
  const p = new Progress("batch_load", 4, 400, {
    tty: true,
    write: (s) => out.push(s),
    now: () => t,
  });
  t = 2000;
  p.advance(1, 100, 50_000);
  assert.equal(out[0], "\rbatch_load: 1/4 files, 50,000 rows, 25,000 rows/s, ETA 6 s\x1b[K");
  t = 4000;
  p.advance(3, 300, 150_000);
  p.finish();
  assert.equal(out[2], "\rbatch_load: 4/4 files, 200,000 rows, 50,000 rows/s, done\x1b[K\n");
  const logged: string[] = [];
  t = 0;
  const q = new Progress("batch_load", 3, 300, {
    tty: false,
    intervalMs: 10_000,
    write: (s) => logged.push(s),
    now: () => t,
  });
  t = 1000;
  q.advance(1, 100, 10); // within 10 s of the start: not printed
  t = 11_000;
  q.advance(1, 100, 10);
  t = 15_000;
  q.advance(1, 100, 10); // within 10 s of the last line: not printed
  q.finish();
  assert.deepEqual(logged, [
    "batch_load: 2/3 files, 20 rows, 2 rows/s, ETA 6 s\n",
    "batch_load: 3/3 files, 30 rows, 2 rows/s, done\n",
  ]);
});

Deno.test("the ingestion jobs answer --help without any permission", async () => {
  for (const job of ["s3_check", "batch_load", "validate_data"]) {
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["run", `${ROOT}jobs/${job}.ts`, "--help"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(res.stdout);
    assert.equal(res.code, 0, new TextDecoder().decode(res.stderr));
    assert.ok(out.startsWith(`Usage: jobs/${job}.ts`), out);
  }
});

Deno.test("quarterly financials and screener snapshots load, their bad rows quarantined", async () => {
  await withTempWarehouse(async (wh) => {
    await loadCompanies(wh);
    const fin = "exports/financials_2025q3.csv";
    const scr = "exports/screener_2025-12-08.csv";
    const out = await loadFiles(wh, [
      localFile(`${DATA}/${fin}`, fin),
      localFile(`${DATA}/${scr}`, scr),
    ]);
    assert.deepEqual(
      out.map((o) => [o.key, o.format, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
      [[fin, "financials", 3, 1, 2], [scr, "screener", 3, 1, 2]],
    );
    assert.deepEqual(await quarantine(wh, fin), [
      [3, "fiscal_quarter not 1..4"],
      [4, "unparsable gross_profit"],
    ]);
    assert.deepEqual(await quarantine(wh, scr), [
      [3, "non-positive price"],
      [4, "high_52w < low_52w"],
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, FISCAL_YEAR, FISCAL_QUARTER, PERIOD_END, CURRENCY, REVENUE, GROSS_PROFIT, " +
          "NET_INCOME, SHARES_OUTSTANDING, EPS, DATA_SOURCE FROM OPERATIONAL.TBL_FINANCIAL",
      ),
      [{
        TICKER: "COMI",
        FISCAL_YEAR: 2025,
        FISCAL_QUARTER: 3,
        PERIOD_END: "2025-09-30",
        CURRENCY: "EGP",
        REVENUE: 42_150_000_000,
        GROSS_PROFIT: null,
        NET_INCOME: 15_300_000_000,
        SHARES_OUTSTANDING: 3_050_000_000,
        EPS: 5.02,
        DATA_SOURCE: "FINANCIALS_CSV",
      }],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, SNAPSHOT_DATE, LAST_PRICE, CHANGE_PCT, VOLUME, MARKET_CAP, PE_RATIO, " +
          "DIVIDEND_YIELD, HIGH_52W, LOW_52W FROM OPERATIONAL.TBL_MARKET_STAT",
      ),
      [{
        TICKER: "COMI",
        SNAPSHOT_DATE: "2025-12-08",
        LAST_PRICE: 117.6,
        CHANGE_PCT: 1.2,
        VOLUME: 1_890_000,
        MARKET_CAP: 360_000_000_000,
        PE_RATIO: 7.1,
        DIVIDEND_YIELD: 2.5,
        HIGH_52W: 120,
        LOW_52W: 76.2,
      }],
    );
  });
});

Deno.test("a failure's message keeps no secret: the load log gets it masked", async () => {
  registerSecrets((k) => (k === "SNOWFLAKE_PASSWORD" ? "Ld-Secret-4471" : undefined));
  await withTempWarehouse(async (wh) => {
    const out = await recordFailure(
      wh,
      { key: "prices.csv", etag: "e1", size: 10 },
      "daily_prices",
      new Error("prices.csv: cannot fetch: signature Ld-Secret-4471 refused"),
      { runId: "r1" },
    );
    assert.equal(out.error, "prices.csv: cannot fetch: signature *** refused");
    assert.deepEqual(
      await wh.query(
        "SELECT STATUS, ERROR FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = 'prices.csv'",
      ),
      [{ STATUS: "FAILED", ERROR: "prices.csv: cannot fetch: signature *** refused" }],
    );
  });
});

Deno.test("a landing folder that does not exist is a setting to mend: s3_check and batch_load exit 2, not retried", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_no_landing_" });
  try {
    const missing = `${dir}/landing-typo`;
    await assert.rejects(new LocalLanding(missing).list(), (e: Error) => {
      assert.equal(e.name, "ConfigError");
      assert.equal(e.message, `landing folder ${missing} does not exist (EGX_LANDING)`);
      return true;
    });
    for (const job of ["s3_check", "batch_load"]) {
      const res = await runProjectJob(job, {
        EGX_LANDING: missing,
        EGX_WAREHOUSE: `${dir}/egx.duckdb`,
      });
      assert.equal(res.code, 2, res.err);
      assert.equal(
        res.err.replace(/ \(at [^)]*\)\n$/, "").split("\n").at(-1),
        `${job}: ConfigError: landing folder ${missing} does not exist (EGX_LANDING)`,
      );
    }
    // An empty one is no work, and says it holds no file at all.
    await Deno.mkdir(`${dir}/empty`);
    const empty = await runProjectJob("s3_check", {
      EGX_LANDING: `${dir}/empty`,
      EGX_WAREHOUSE: `${dir}/egx.duckdb`,
    });
    assert.equal(empty.code, 78, empty.err);
    assert.equal(
      empty.out,
      `s3_check: nothing to do: no .csv files at all in ${dir}/empty (EGX_LANDING)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
