/**
 * A generated canonical daily OHLCV CSV of any size (ticker,trade_date,open,high,low,close,volume):
 * the 223 real tickers of data/sample/companies.csv on weekdays Sunday-Thursday back from
 * 2025-12-08, prices and volumes from a hash (deterministic), one row per ticker and day, ordered
 * by day. Days that are EGX holidays are quarantined when loaded ("not an EGX trading day").
 * Used by the ingestion benchmark and by the tests of progress during a large load.
 */
import { DuckDBInstance } from "@duckdb/node-api";

const COMPANIES = new URL("../../data/sample/companies.csv", import.meta.url).pathname;

/** Write `rows` rows to `path` (DuckDB COPY: about a second per million rows). */
export async function generateDailyCsv(path: string, rows: number): Promise<void> {
  const inst = await DuckDBInstance.create(":memory:");
  const conn = await inst.connect();
  try {
    await conn.run(
      `COPY (
        WITH t AS (SELECT ticker, row_number() OVER (ORDER BY ticker) - 1 AS k
                   FROM read_csv(?, all_varchar = true)),
        d AS (SELECT d::DATE AS trade_date, row_number() OVER (ORDER BY d DESC) - 1 AS k
              FROM range(DATE '1990-01-01', DATE '2025-12-09', INTERVAL 1 DAY) r(d)
              WHERE dayofweek(d) BETWEEN 0 AND 4),
        g AS (SELECT t.ticker, d.trade_date, hash(t.ticker, d.trade_date) AS h
              FROM t, d WHERE d.k < ceil(? / (SELECT count(*) FROM t))),
        p AS (SELECT ticker, trade_date, 10 + (h % 9000) / 100.0 AS base, h FROM g)
        SELECT ticker, trade_date, round(base, 2) AS open, round(base * 1.03, 2) AS high,
          round(base * 0.97, 2) AS low, round(base * (0.98 + (h % 5) / 100.0), 2) AS close,
          (h % 2000000) AS volume
        FROM p ORDER BY trade_date, ticker LIMIT ?
      ) TO '${path.replaceAll("'", "''")}' (HEADER)`,
      [COMPANIES, rows, rows],
    );
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}
