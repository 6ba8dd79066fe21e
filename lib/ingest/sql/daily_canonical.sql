-- Canonical daily OHLCV CSV: ticker,trade_date,open,high,low,close,volume (ISO dates), read
-- typed, the ticker normalised (read_daily_canonical.sql): a blank value is NULL ("missing"),
-- an unparsable one was rejected by the reader, so the *_raw columns (which tell blank from
-- present) are the values. A volume is never "not known" here (v_none: daily_check.sql).
CREATE OR REPLACE TEMP VIEW egx_norm AS
SELECT egx_file_key, egx_etag, egx_line, ticker AS t_raw, egx_ticker_norm AS ticker,
  trade_date AS d_raw, trade_date, open AS o_raw, open, high AS h_raw, high, low AS l_raw, low,
  close AS c_raw, close, volume AS v_raw, volume, false AS v_none
FROM egx_raw;
