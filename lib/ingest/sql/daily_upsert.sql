-- The good daily rows, as the source of stock_price_merge.sql (each key once: duplicates in a
-- file are quarantined, and a key in several files splits the group); a reload's only those its
-- earlier load quarantined (egx_upserts, prelude.sql) and only where TBL_STOCK_PRICE has no row of
-- their key: a reload inserts, never updates (egx_reload_file, prelude.sql).
CREATE OR REPLACE TEMP VIEW egx_daily_src AS
SELECT c.ticker, c.trade_date, v.data_source, c.open, c.high, c.low, c.close,
  round(c.volume)::BIGINT AS volume, c.egx_file_key AS source_file
FROM egx_checked c, (SELECT getvariable('data_source') AS data_source) v
WHERE c.reason IS NULL AND egx_upserts(c.egx_file_key, c.egx_line)
  AND NOT (egx_reload_file(c.egx_file_key) AND EXISTS (SELECT 1 FROM OPERATIONAL.TBL_STOCK_PRICE t
    WHERE t.TICKER = c.ticker AND t.TRADE_DATE = c.trade_date AND t.DATA_SOURCE = v.data_source));
