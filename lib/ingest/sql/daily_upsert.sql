-- Upsert the good daily rows by the natural key (TICKER, TRADE_DATE, DATA_SOURCE) with MERGE
-- (the source holds each key once: duplicates in a file are quarantined). A row whose values
-- did not change is left alone: UPDATED_AT and SOURCE_FILE move only when a value changes.
MERGE INTO OPERATIONAL.TBL_STOCK_PRICE t
USING (
  SELECT ticker, trade_date, v.data_source, open, high, low, close,
    round(volume)::BIGINT AS volume, egx_file_key AS source_file
  FROM egx_checked, (SELECT getvariable('data_source') AS data_source) v
  WHERE reason IS NULL
) s
ON t.TICKER = s.ticker AND t.TRADE_DATE = s.trade_date AND t.DATA_SOURCE = s.data_source
WHEN MATCHED AND (t.OPEN IS DISTINCT FROM s.open OR t.HIGH IS DISTINCT FROM s.high
    OR t.LOW IS DISTINCT FROM s.low OR t.CLOSE IS DISTINCT FROM s.close
    OR t.VOLUME IS DISTINCT FROM s.volume) THEN UPDATE SET
  OPEN = s.open, HIGH = s.high, LOW = s.low, CLOSE = s.close, VOLUME = s.volume,
  SOURCE_FILE = s.source_file, UPDATED_AT = now()::TIMESTAMP
WHEN NOT MATCHED THEN INSERT
  (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE)
  VALUES (s.ticker, s.trade_date, s.data_source, s.open, s.high, s.low, s.close, s.volume,
    s.source_file);
