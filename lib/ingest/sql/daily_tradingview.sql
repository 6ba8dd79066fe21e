-- TradingView chart export: time,open,high,low,close,Volume[,indicator columns...]; time is
-- epoch seconds (or an ISO instant); the trade date is the Cairo date of the bar's start. The
-- ticker comes from the file name (e.g. "EGX_COMI, 1D.csv"). Prices are read typed.
CREATE OR REPLACE TEMP TABLE egx_norm AS
SELECT egx_file_key, egx_etag, egx_line, egx_ticker AS t_raw, egx_ticker AS ticker,
  time AS d_raw,
  -- Only an instant egx_instant admits (prelude.sql): epoch seconds past 9 * 10^12 (epoch micro-
  -- or nanoseconds, pandas' int64 times) made to_timestamp, and "infinity" or the year 294247 made
  -- the Cairo conversion, fail the whole file naming no line; they are unparsable instead.
  CAST(timezone('Africa/Cairo', egx_instant(CASE
    WHEN regexp_full_match(trim(time), '[0-9]+')
      AND TRY_CAST(trim(time) AS BIGINT) <= 9000000000000
    THEN to_timestamp(TRY_CAST(trim(time) AS BIGINT))
    -- A UTC offset that is not a real one (+99:00, +25:00, +02:60), which DuckDB's cast takes
    -- and shifts the day by: no trade date (daily_check.sql names the offset).
    WHEN egx_offset_problem(time) IS NULL THEN TRY_CAST(trim(time) AS TIMESTAMPTZ)
  END)) AS DATE) AS trade_date,
  if(open IS NULL, NULL, 'x') AS o_raw, open, if(high IS NULL, NULL, 'x') AS h_raw, high,
  if(low IS NULL, NULL, 'x') AS l_raw, low, if(close IS NULL, NULL, 'x') AS c_raw, close,
  if(volume IS NULL, NULL, 'x') AS v_raw, volume, false AS v_none
FROM egx_raw;
