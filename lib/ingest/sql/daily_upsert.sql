-- The good daily rows, as the source of stock_price_merge.sql (each key once: duplicates in a
-- file are quarantined, and a key in several files splits the group); a reload's only those its
-- earlier load quarantined (egx_upserts, prelude.sql).
CREATE OR REPLACE TEMP VIEW egx_daily_src AS
SELECT ticker, trade_date, v.data_source, open, high, low, close,
  round(volume)::BIGINT AS volume, egx_file_key AS source_file
FROM egx_checked, (SELECT getvariable('data_source') AS data_source) v
WHERE reason IS NULL AND egx_upserts(egx_file_key, egx_line);
