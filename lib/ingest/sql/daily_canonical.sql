-- Canonical daily OHLCV CSV: ticker,trade_date,open,high,low,close,volume (ISO dates), read
-- typed (read_daily_canonical.sql): a blank value is NULL ("missing"), an unparsable one was
-- rejected by the reader. The *_raw columns only tell blank from present here.
CREATE OR REPLACE TEMP VIEW egx_norm AS
SELECT egx_file_key, egx_etag, egx_line, upper(trim(ticker)) AS ticker,
  if(trade_date IS NULL, NULL, 'x') AS d_raw, trade_date,
  if(open IS NULL, NULL, 'x') AS o_raw, open, if(high IS NULL, NULL, 'x') AS h_raw, high,
  if(low IS NULL, NULL, 'x') AS l_raw, low, if(close IS NULL, NULL, 'x') AS c_raw, close,
  if(volume IS NULL, NULL, 'x') AS v_raw, volume
FROM egx_raw;
