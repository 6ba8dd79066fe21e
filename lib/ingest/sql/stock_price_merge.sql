-- Upsert daily bars from the temp view egx_daily_src (ticker, trade_date, data_source, open,
-- high, low, close, volume, source_file; each key once) by the natural key (TICKER, TRADE_DATE,
-- DATA_SOURCE). A row whose values did not change is left alone: UPDATED_AT and SOURCE_FILE move
-- only when a value changes.
MERGE INTO OPERATIONAL.TBL_STOCK_PRICE t
USING egx_daily_src s
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
