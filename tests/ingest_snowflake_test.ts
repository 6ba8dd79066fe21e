/**
 * Batch loading into the Snowflake warehouse, against the local Snowflake-protocol server
 * (fakesnow, see tests/support/snowflake_server.ts): the same validation (DuckDB staging), then
 * MERGE into the OPERATIONAL tables; every statement sent is checked with a Snowflake parser.
 */
import assert from "node:assert/strict";
import { pendingObjects, runBatch } from "../lib/ingest/batch.ts";
import { LocalLanding } from "../lib/ingest/landing.ts";
import { loadFiles, type LoadOutcome } from "../lib/ingest/load.ts";
import { validateData } from "../lib/ingest/validate.ts";
import { SnowflakeWarehouse } from "../lib/warehouse/snowflake.ts";
import type { Warehouse } from "../lib/warehouse/warehouse.ts";
import { snowflakeErrors, snowflakeTestConfig } from "./support/snowflake_server.ts";
import { localFile, withTempWarehouse } from "./support/temp_warehouse.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SAMPLE = `${ROOT}data/sample`;
const DATA = `${ROOT}tests/testdata/ingest`;

/**
 * The statements sent between BEGIN and COMMIT that are DDL. Snowflake commits the open
 * transaction at a DDL statement (fakesnow does not: it cannot show this), so the staging tables
 * are created before BEGIN (publish_snowflake.ts): a load's merges are one transaction.
 */
function ddlInTransaction(sent: readonly string[]): string[] {
  let open = false;
  return sent.filter((sql) => {
    if (sql === "BEGIN TRANSACTION") open = true;
    else if (sql === "COMMIT" || sql === "ROLLBACK") open = false;
    else return open && /^\s*(CREATE|DROP|ALTER|TRUNCATE)\b/i.test(sql);
    return false;
  });
}

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
    assert.deepEqual(ddlInTransaction(sent), []);
    assert.ok(sent.some((s) => s.startsWith("CREATE OR REPLACE TEMPORARY TABLE EGX_STG_")));
  } finally {
    await sf.close();
  }
});

Deno.test("a new company list gives Snowflake the same company rows as DuckDB: blanked and reactivated values too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_sf_companies_" });
  const header = "ticker,company_name,isin,sector,industry,is_active\n";
  await Deno.writeTextFile(
    `${dir}/v1.csv`,
    header +
      "ACME,Acme Co,EGS00000A011,Financials,Banks,false\n" +
      "BETA,Beta Co,EGS00000B019,Materials,Chemicals,true\n" +
      "GAMA,Gama Co,EGS00000C017,Energy,Oil,true\n",
  );
  // ACME: ISIN, sector and industry cleared, active again (the staging copy's defaults);
  // BETA: another sector; GAMA unchanged.
  await Deno.writeTextFile(
    `${dir}/v2.csv`,
    header +
      "ACME,Acme Co,,,,true\n" +
      "BETA,Beta Co,EGS00000B019,Industrials,Chemicals,true\n" +
      "GAMA,Gama Co,EGS00000C017,Energy,Oil,true\n",
  );
  const v1 = localFile(`${dir}/v1.csv`, "companies.csv", "v1");
  const v2 = localFile(`${dir}/v2.csv`, "companies.csv", "v2");
  const sql = "SELECT TICKER, COMPANY_NAME, ISIN, SECTOR, INDUSTRY, IS_ACTIVE, SOURCE_FILE " +
    "FROM OPERATIONAL.TBL_COMPANY WHERE TICKER IN ('ACME', 'BETA', 'GAMA') ORDER BY TICKER";
  const row = (
    t: string,
    isin: string | null,
    sector: string | null,
    industry: string | null,
    active: boolean,
  ) => ({
    TICKER: t,
    COMPANY_NAME: `${t[0]}${t.slice(1).toLowerCase()} Co`,
    ISIN: isin,
    SECTOR: sector,
    INDUSTRY: industry,
    IS_ACTIVE: active,
    SOURCE_FILE: "companies.csv",
  });
  const first = [
    row("ACME", "EGS00000A011", "Financials", "Banks", false),
    row("BETA", "EGS00000B019", "Materials", "Chemicals", true),
    row("GAMA", "EGS00000C017", "Energy", "Oil", true),
  ];
  const second = [
    row("ACME", null, null, null, true),
    row("BETA", "EGS00000B019", "Industrials", "Chemicals", true),
    row("GAMA", "EGS00000C017", "Energy", "Oil", true),
  ];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg);
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    const loaded = (o: LoadOutcome[]) => o.map((x) => [x.status, x.rowsRead, x.rowsLoaded]);
    assert.deepEqual(loaded(await loadFiles(sf, [v1])), [["LOADED", 3, 3]]);
    assert.deepEqual(await sf.query(sql), first);
    assert.deepEqual(loaded(await loadFiles(sf, [v2])), [["LOADED", 3, 3]]);
    assert.deepEqual(await sf.query(sql), second);
    // GAMA was not touched by the second version.
    const stamps = await sf.query<{ TICKER: string; SAME: boolean }>(
      "SELECT TICKER, CREATED_AT = UPDATED_AT AS SAME FROM OPERATIONAL.TBL_COMPANY " +
        "WHERE TICKER IN ('ACME', 'BETA', 'GAMA') ORDER BY TICKER",
    );
    assert.deepEqual(stamps.map((r) => [r.TICKER, r.SAME]), [
      ["ACME", false],
      ["BETA", false],
      ["GAMA", true],
    ]);
    await withTempWarehouse(async (duck) => {
      await loadFiles(duck, [v1]);
      assert.deepEqual(await duck.query(sql), first);
      await loadFiles(duck, [v2]);
      assert.deepEqual(await duck.query(sql), second);
    });
  } finally {
    await sf.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a company list without industry or is_active leaves Snowflake's stored ones, as DuckDB's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_sf_companies_" });
  await Deno.writeTextFile(
    `${dir}/all.csv`,
    "ticker,company_name,isin,sector,industry,is_active\n" +
      "OLDX,Old Cement,EGS00000X012,Industrials,Cement,false\n",
  );
  await Deno.writeTextFile(
    `${dir}/new.csv`,
    "ticker,company_name,isin,sector\nOLDX,Old Cement,EGS00000X012,Industrials\n" +
      "NEWX,New Co,EGS00000Y011,Banks\n",
  );
  const files = [
    localFile(`${dir}/all.csv`, "companies.csv"),
    localFile(`${dir}/new.csv`, "z_new_listings.csv"),
  ];
  const sql = "SELECT TICKER, INDUSTRY, IS_ACTIVE, SOURCE_FILE FROM OPERATIONAL.TBL_COMPANY " +
    "WHERE TICKER IN ('OLDX', 'NEWX') ORDER BY TICKER";
  const expected = [
    { TICKER: "NEWX", INDUSTRY: null, IS_ACTIVE: true, SOURCE_FILE: "z_new_listings.csv" },
    { TICKER: "OLDX", INDUSTRY: "Cement", IS_ACTIVE: false, SOURCE_FILE: "companies.csv" },
  ];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg);
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    for (const f of files) assert.equal((await loadFiles(sf, [f]))[0].status, "LOADED");
    assert.deepEqual(await sf.query(sql), expected);
    await withTempWarehouse(async (duck) => {
      for (const f of files) await loadFiles(duck, [f]);
      assert.deepEqual(await duck.query(sql), expected);
    });
  } finally {
    await sf.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('an Investing.com day with no volume ("-") loads into Snowflake as into DuckDB, NULL volume', async () => {
  const key = "exports/ETEL Historical Data.csv";
  const files = [
    localFile(`${SAMPLE}/companies.csv`, "companies.csv"),
    localFile(`${DATA}/${key}`, key),
  ];
  const sql = {
    prices: "SELECT TRADE_DATE, CLOSE, VOLUME, UPDATED_AT FROM OPERATIONAL.TBL_STOCK_PRICE " +
      "WHERE TICKER = 'ETEL' ORDER BY TRADE_DATE",
    quarantine: "SELECT LINE_NUMBER, REASON FROM OPERATIONAL.TBL_QUARANTINE " +
      "WHERE FILE_KEY = ? ORDER BY LINE_NUMBER",
  };
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg);
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    const out = await loadFiles(sf, files);
    assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded]), [
      ["companies.csv", "LOADED", 223, 223],
      [key, "LOADED", 7, 3],
    ]);
    const prices = await sf.query(sql.prices);
    assert.deepEqual(prices.map((r) => [r.TRADE_DATE, r.CLOSE, r.VOLUME]), [
      ["2025-11-26", 40, null],
      ["2025-12-03", 40.8, 1_250_000],
      ["2025-12-04", 41.2, null],
    ]);
    await withTempWarehouse(async (duck) => {
      await loadFiles(duck, files);
      const strip = (rows: Record<string, unknown>[]) => rows.map(({ UPDATED_AT: _, ...r }) => r);
      assert.deepEqual(strip(prices), strip(await duck.query(sql.prices)));
      assert.deepEqual(
        await sf.query(sql.quarantine, [key]),
        await duck.query(sql.quarantine, [key]),
      );
    });
    // Loaded again: MERGE compares the NULL volumes as equal, so nothing is updated.
    await loadFiles(sf, [{ ...files[1], etag: "v2" }]);
    assert.deepEqual(await sf.query(sql.prices), prices);
  } finally {
    await sf.close();
  }
});

Deno.test("financials, screener and index lists without an optional column leave Snowflake's stored values, as DuckDB's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_sf_optional_" });
  // Each step's files (key -> content), loaded in turn after a company list of COMI and SWDY.
  const steps: Record<string, string>[] = [{
    "fin_a.csv": "ticker,fiscal_year,fiscal_quarter,period_end,currency,revenue,net_income\n" +
      "COMI,2024,4,2024-12-31,USD,500,120\n",
    "scr_a.csv":
      "ticker,snapshot_date,last_price,pe_ratio,volume\nCOMI,2025-12-08,117.6,7.1,1000\n",
    "idx_a.csv": "index_code,ticker,effective_from,effective_to,weight\n" +
      "EGX30,COMI,2025-01-01,2025-06-30,0.1\n",
  }, {
    // Without currency, net_income, pe_ratio, volume, effective_to, weight: all kept.
    "fin_b.csv": "ticker,fiscal_year,fiscal_quarter,period_end,revenue\n" +
      "COMI,2024,4,2024-12-31,600\nCOMI,2025,1,2025-03-31,700\n",
    "scr_b.csv": "ticker,snapshot_date,last_price\nCOMI,2025-12-08,118\n",
    "idx_b.csv": "index_code,ticker,effective_from\nEGX30,COMI,2025-01-01\nEGX30,SWDY,2025-01-01\n",
  }, {
    // The columns present, blank: they update (a blank currency is the default, EGP).
    "fin_c.csv": "ticker,fiscal_year,fiscal_quarter,period_end,currency,net_income\n" +
      "COMI,2024,4,2024-12-31,,\n",
    "scr_c.csv": "ticker,snapshot_date,last_price,pe_ratio\nCOMI,2025-12-08,118,\n",
    "idx_c.csv": "index_code,ticker,effective_from,effective_to\nEGX30,COMI,2025-01-01,\n",
  }];
  const sql = {
    financial: "SELECT FISCAL_YEAR AS Y, FISCAL_QUARTER AS Q, CURRENCY, REVENUE, NET_INCOME, " +
      "SOURCE_FILE FROM OPERATIONAL.TBL_FINANCIAL ORDER BY 1, 2",
    stat: "SELECT LAST_PRICE, PE_RATIO, VOLUME, SOURCE_FILE FROM OPERATIONAL.TBL_MARKET_STAT",
    member: "SELECT TICKER, EFFECTIVE_TO, WEIGHT, SOURCE_FILE " +
      "FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP ORDER BY 1",
  };
  const fin = (
    y: number,
    q: number,
    currency: string,
    revenue: number | null,
    netIncome: number | null,
    file: string,
  ) => ({
    Y: y,
    Q: q,
    CURRENCY: currency,
    REVENUE: revenue,
    NET_INCOME: netIncome,
    SOURCE_FILE: file,
  });
  const expected = [{
    financial: [fin(2024, 4, "USD", 500, 120, "fin_a.csv")],
    stat: [{ LAST_PRICE: 117.6, PE_RATIO: 7.1, VOLUME: 1000, SOURCE_FILE: "scr_a.csv" }],
    member: [{ TICKER: "COMI", EFFECTIVE_TO: "2025-06-30", WEIGHT: 0.1, SOURCE_FILE: "idx_a.csv" }],
  }, {
    financial: [
      fin(2024, 4, "USD", 600, 120, "fin_b.csv"),
      fin(2025, 1, "EGP", 700, null, "fin_b.csv"),
    ],
    stat: [{ LAST_PRICE: 118, PE_RATIO: 7.1, VOLUME: 1000, SOURCE_FILE: "scr_b.csv" }],
    member: [
      // Nothing the file has differs: COMI's row is left alone.
      { TICKER: "COMI", EFFECTIVE_TO: "2025-06-30", WEIGHT: 0.1, SOURCE_FILE: "idx_a.csv" },
      { TICKER: "SWDY", EFFECTIVE_TO: null, WEIGHT: null, SOURCE_FILE: "idx_b.csv" },
    ],
  }, {
    financial: [
      fin(2024, 4, "EGP", 600, null, "fin_c.csv"),
      fin(2025, 1, "EGP", 700, null, "fin_b.csv"),
    ],
    stat: [{ LAST_PRICE: 118, PE_RATIO: null, VOLUME: 1000, SOURCE_FILE: "scr_c.csv" }],
    member: [
      { TICKER: "COMI", EFFECTIVE_TO: null, WEIGHT: 0.1, SOURCE_FILE: "idx_c.csv" },
      { TICKER: "SWDY", EFFECTIVE_TO: null, WEIGHT: null, SOURCE_FILE: "idx_b.csv" },
    ],
  }];
  /** Load the company list, then each step, checking the tables after each. */
  const loadSteps = async (wh: Warehouse) => {
    const companies = `${dir}/companies.csv`;
    await Deno.writeTextFile(
      companies,
      "ticker,company_name,isin,sector\n" +
        "COMI,Commercial International Bank,EGS60121C018,Financials\n" +
        "SWDY,Elsewedy Electric,EGS3G0Z1C014,Industrials\n",
    );
    await loadFiles(wh, [localFile(companies, "companies.csv")]);
    for (const [i, files] of steps.entries()) {
      const batch = [];
      for (const [key, text] of Object.entries(files)) {
        await Deno.writeTextFile(`${dir}/${i}_${key}`, text);
        batch.push(localFile(`${dir}/${i}_${key}`, key));
      }
      const out = await loadFiles(wh, batch);
      // Every row of every file loads (one per line after the header).
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsLoaded]).sort(),
        Object.entries(files).map(([k, text]) => [k, "LOADED", text.trim().split("\n").length - 1])
          .sort(),
      );
      for (const [name, q] of Object.entries(sql)) {
        assert.deepEqual(
          await wh.query(q),
          expected[i][name as keyof typeof sql],
          `${wh.kind} ${name} after step ${i}`,
        );
      }
    }
  };
  const sent: string[] = [];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { onStatement: (s) => sent.push(s) });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    await loadSteps(sf);
    await withTempWarehouse(loadSteps);
    assert.deepEqual([...new Set(sent)].flatMap(snowflakeErrors), []);
  } finally {
    await sf.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file whose quarantined rows name a ticker listed since reloads into Snowflake as into DuckDB", async () => {
  const sent: string[] = [];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { onStatement: (sql) => sent.push(sql) });
  const dir = await Deno.makeTempDir({ prefix: "egx_sf_reload_" });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    // prices.csv: ZZZZ's rows (lines 3-5) are quarantined as an unknown ticker, line 5 also as
    // high < low; its COMI row (line 2) is updated by prices_fix.csv, loaded after it.
    await Deno.copyFile(`${SAMPLE}/companies.csv`, `${dir}/companies.csv`);
    for (const f of ["prices.csv", "prices_fix.csv"]) {
      await Deno.copyFile(`${DATA}/reload/${f}`, `${dir}/${f}`);
    }
    const landing = new LocalLanding(dir);
    const asOf = new Date("2025-12-08T13:00:00Z");
    const listZzzz = (wh: Warehouse) =>
      wh.transaction(async (s) => {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('ZZZZ', 'Zed')",
        );
      });
    const run = async (wh: Warehouse) => {
      await runBatch(wh, landing, await pendingObjects(wh, landing), { progress: false, asOf });
      assert.deepEqual(await pendingObjects(wh, landing), []);
      await listZzzz(wh);
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change, p.listed?.tickers, p.listed?.rows]), [
        ["prices.csv", "reload", ["ZZZZ"], 3],
      ]);
      const out = await runBatch(wh, landing, pending, { progress: false, asOf });
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded]), [
        ["prices.csv", "LOADED", 6, 3],
      ]);
      assert.deepEqual(await pendingObjects(wh, landing), []);
    };
    await run(sf);
    const tables = {
      prices: "SELECT TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE " +
        "FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY TICKER, TRADE_DATE",
      quarantine: "SELECT FILE_KEY, LINE_NUMBER, REASON FROM OPERATIONAL.TBL_QUARANTINE " +
        "ORDER BY FILE_KEY, LINE_NUMBER",
      log: "SELECT FILE_KEY, STATUS, ROWS_READ, ROWS_LOADED, ROWS_QUARANTINED " +
        "FROM OPERATIONAL.TBL_LOAD_LOG ORDER BY FILE_KEY",
    };
    assert.deepEqual(
      (await sf.query(tables.prices)).map((r) => [r.TICKER, r.TRADE_DATE, r.CLOSE, r.VOLUME]),
      [
        ["COMI", "2025-12-07", 10.8, 1200],
        ["ZZZZ", "2025-12-07", 20.5, 2000],
        ["ZZZZ", "2025-12-08", 21.5, 3000],
      ],
    );
    assert.deepEqual(
      (await sf.query(tables.quarantine)).map((r) => [r.LINE_NUMBER, r.REASON]),
      [[5, "high < low"], [6, "missing close"], [7, "unknown ticker NEWCO"]],
    );
    await withTempWarehouse(async (duck) => {
      await run(duck);
      for (const [name, sql] of Object.entries(tables)) {
        assert.deepEqual(await sf.query(sql), await duck.query(sql), name);
      }
    });
    const report = await validateData(sf, { asOf });
    assert.ok(
      report.checks.some((c) => c.ok && c.name === "row counts reconcile per file"),
      report.text,
    );
    // Every statement we sent parses as Snowflake SQL, the reload's query and delete included.
    assert.deepEqual([...new Set(sent)].flatMap(snowflakeErrors), []);
    assert.ok(sent.some((s) => s.startsWith("DELETE FROM OPERATIONAL.TBL_QUARANTINE")));
  } finally {
    await sf.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reload into Snowflake is insert-only: a newer file's row loaded before it stays, as in DuckDB", async () => {
  const sent: string[] = [];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { onStatement: (sql) => sent.push(sql) });
  const dir = await Deno.makeTempDir({ prefix: "egx_sf_reload_later_" });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    await Deno.copyFile(`${SAMPLE}/companies.csv`, `${dir}/companies.csv`);
    for (const f of ["prices.csv", "prices_fix.csv"]) {
      await Deno.copyFile(`${DATA}/reload/${f}`, `${dir}/${f}`);
    }
    const landing = new LocalLanding(dir);
    const asOf = new Date("2025-12-08T13:00:00Z");
    const run = async (wh: Warehouse) => {
      await runBatch(wh, landing, await pendingObjects(wh, landing), { progress: false, asOf });
      // ZZZZ is listed and zlater.csv (a newer value of ZZZZ's 2025-12-07 row, close 99) loads
      // before prices.csv is reloaded.
      await wh.transaction(async (s) => {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('ZZZZ', 'Zed')",
        );
      });
      await Deno.copyFile(`${DATA}/reload/zlater.csv`, `${dir}/zlater.csv`);
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change]), [
        ["prices.csv", "reload"],
        ["zlater.csv", "new"],
      ]);
      const later = await runBatch(wh, landing, pending.filter((p) => p.change === "new"), {
        progress: false,
        asOf,
      });
      assert.deepEqual(later.map((o) => [o.key, o.status]), [["zlater.csv", "LOADED"]]);
      const out = await runBatch(wh, landing, await pendingObjects(wh, landing), {
        progress: false,
        asOf,
      });
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded]), [
        ["prices.csv", "LOADED", 6, 3],
      ]);
      assert.deepEqual(await pendingObjects(wh, landing), []);
      await Deno.remove(`${dir}/zlater.csv`);
    };
    await run(sf);
    const tables = {
      prices: "SELECT TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE " +
        "FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY TICKER, TRADE_DATE",
      quarantine: "SELECT FILE_KEY, LINE_NUMBER, REASON FROM OPERATIONAL.TBL_QUARANTINE " +
        "ORDER BY FILE_KEY, LINE_NUMBER",
    };
    assert.deepEqual(
      (await sf.query(tables.prices)).map((r) => [r.TICKER, r.TRADE_DATE, r.CLOSE, r.SOURCE_FILE]),
      [
        ["COMI", "2025-12-07", 10.8, "prices_fix.csv"],
        ["ZZZZ", "2025-12-07", 99, "zlater.csv"],
        ["ZZZZ", "2025-12-08", 21.5, "prices.csv"],
      ],
    );
    assert.deepEqual(
      (await sf.query(tables.quarantine)).map((r) => [r.FILE_KEY, r.LINE_NUMBER, r.REASON]),
      [
        ["prices.csv", 5, "high < low"],
        ["prices.csv", 6, "missing close"],
        ["prices.csv", 7, "unknown ticker NEWCO"],
      ],
    );
    await withTempWarehouse(async (duck) => {
      await run(duck);
      for (const [name, sql] of Object.entries(tables)) {
        assert.deepEqual(await sf.query(sql), await duck.query(sql), name);
      }
    });
    // Every statement sent parses as Snowflake SQL, the reload's staging delete included.
    assert.deepEqual([...new Set(sent)].flatMap(snowflakeErrors), []);
    assert.ok(sent.some((s) => s.startsWith("DELETE FROM EGX_STG_STOCK_PRICE")));
    assert.deepEqual(ddlInTransaction(sent), []);
  } finally {
    await sf.close();
    await Deno.remove(dir, { recursive: true });
  }
});
