-- Upsert the good one-minute bars by (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE), then
-- define the daily bars aggregated from them (open = first bar's open, close = last bar's close,
-- high/low/volume over the day) with DATA_SOURCE 'BARS_1M' for stock_price_merge.sql.
-- Unchanged rows are left alone. Volumes are stored as whole shares, rounded per bar (EXPA's
-- split-adjusted bars are fractional); a day's volume is the sum of its stored bars (README).
-- A reload inserts only the bars its earlier load quarantined (egx_upserts, prelude.sql) that are
-- not stored (egx_reload_file: a stored bar is never updated by a reload); the days of its lines
-- are aggregated again from the stored bars, as the stream's redrive does.
MERGE INTO OPERATIONAL.TBL_INTRADAY_BAR t
USING (
  SELECT c.ticker, c.bar_start, 1 AS interval_minutes, v.data_source,
    c.trade_date, c.open, c.high, c.low, c.close, round(c.volume)::BIGINT AS volume,
    c.egx_file_key AS source_file
  FROM egx_checked c, (SELECT getvariable('data_source') AS data_source) v
  WHERE c.reason IS NULL AND egx_upserts(c.egx_file_key, c.egx_line)
    AND NOT (egx_reload_file(c.egx_file_key) AND EXISTS (SELECT 1
      FROM OPERATIONAL.TBL_INTRADAY_BAR b WHERE b.TICKER = c.ticker AND b.BAR_START = c.bar_start
        AND b.INTERVAL_MINUTES = 1 AND b.DATA_SOURCE = v.data_source))
) s
ON t.TICKER = s.ticker AND t.BAR_START = s.bar_start
  AND t.INTERVAL_MINUTES = s.interval_minutes AND t.DATA_SOURCE = s.data_source
WHEN MATCHED AND (t.OPEN IS DISTINCT FROM s.open OR t.HIGH IS DISTINCT FROM s.high
    OR t.LOW IS DISTINCT FROM s.low OR t.CLOSE IS DISTINCT FROM s.close
    OR t.VOLUME IS DISTINCT FROM s.volume) THEN UPDATE SET
  TRADE_DATE = s.trade_date, OPEN = s.open, HIGH = s.high, LOW = s.low, CLOSE = s.close,
  VOLUME = s.volume, SOURCE_FILE = s.source_file, UPDATED_AT = now()::TIMESTAMP
WHEN NOT MATCHED THEN INSERT (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE, TRADE_DATE, OPEN,
    HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE)
  VALUES (s.ticker, s.bar_start, s.interval_minutes, s.data_source, s.trade_date, s.open, s.high,
    s.low, s.close, s.volume, s.source_file);

-- The daily bars, as the source of stock_price_merge.sql: aggregated from every stored bar of
-- the days in this load (not only this load's bars), so a day split over two files still gets
-- the right open, close and totals.
CREATE OR REPLACE TEMP VIEW egx_daily_src AS
SELECT b.TICKER AS ticker, b.TRADE_DATE AS trade_date, b.DATA_SOURCE AS data_source,
  arg_min(b.OPEN, b.BAR_START) AS open, max(b.HIGH) AS high, min(b.LOW) AS low,
  arg_max(b.CLOSE, b.BAR_START) AS close, sum(b.VOLUME)::BIGINT AS volume,
  arg_max(b.SOURCE_FILE, b.BAR_START) AS source_file
FROM OPERATIONAL.TBL_INTRADAY_BAR b
SEMI JOIN (SELECT DISTINCT ticker, trade_date FROM egx_checked
  WHERE reason IS NULL AND egx_upserts(egx_file_key, egx_line)) d
  ON d.ticker = b.TICKER AND d.trade_date = b.TRADE_DATE
WHERE b.INTERVAL_MINUTES = 1
  AND b.DATA_SOURCE = (SELECT getvariable('data_source'))
GROUP BY ALL;
