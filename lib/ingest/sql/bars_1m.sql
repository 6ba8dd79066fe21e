-- Validate normalised one-minute bars (egx_norm, egx_days): every problem of a row is listed
-- in `reason` (NULL = good), including bars outside the day's session and days before the
-- earliest accepted date (min_trade_date) or after the as-of date (as_of_date).
CREATE OR REPLACE TEMP TABLE egx_dup AS
SELECT ticker, bar_start FROM egx_norm WHERE bar_start IS NOT NULL
GROUP BY ALL HAVING count(*) > 1;

-- Only the bad rows are materialised, with their reasons: a cheap test picks them (most rows
-- are good) and the reason spells out every problem. egx_checked (all rows, reason NULL = good)
-- is a view over egx_norm and that small table.
CREATE OR REPLACE TEMP TABLE egx_bad AS
SELECT n.egx_file_key, n.egx_line, NULLIF(concat_ws('; ',
    CASE WHEN egx_blank(n.ticker) THEN 'missing ticker' END,
    -- (A datetime whose UTC offset is not a real one has bar_start NULL: read_bars_1m.sql.)
    coalesce(egx_offset_problem(n.dt_raw), egx_problem('datetime', n.dt_raw, n.bar_start)),
    egx_ohlcv_problems(n.open, n.open, n.high, n.high, n.low, n.low, n.close, n.close,
      n.volume, n.volume),
    -- A day egx_days does not hold is outside the calendar's 0001-01-01..9999-12-31: not a
    -- trading day (d.problem and the session test alone would be NULL, i.e. pass).
    CASE WHEN n.bar_start IS NOT NULL AND d.trade_date IS NULL
      THEN 'trade date out of range 0001-01-01..9999-12-31 (datetime ' || n.bar_start::VARCHAR || ')'
      WHEN d.problem IS NOT NULL THEN d.problem
      WHEN NOT (hour(n.cairo_ts) * 60 + minute(n.cairo_ts) >= d.open_min
        AND hour(n.cairo_ts) * 60 + minute(n.cairo_ts) < d.close_min)
      THEN 'outside the session (' || strftime(n.cairo_ts, '%H:%M') || ' Cairo, ' || d.label || ')'
    END,
    CASE WHEN NOT egx_blank(n.ticker) AND c.TICKER IS NULL
      THEN 'unknown ticker ' || n.ticker END,
    CASE WHEN x.ticker IS NOT NULL THEN 'duplicate key (ticker, bar start) in the file' END
  ), '') AS reason
FROM egx_norm n
LEFT JOIN egx_days d ON d.trade_date = n.trade_date
LEFT JOIN egx_company c ON c.TICKER = n.ticker
LEFT JOIN egx_dup x ON x.ticker = n.ticker AND x.bar_start = n.bar_start
WHERE n.ticker IS NULL OR n.bar_start IS NULL
    OR egx_ohlcv_bad(n.open, n.high, n.low, n.close, n.volume) OR d.trade_date IS NULL
    OR d.problem IS NOT NULL
    OR hour(n.cairo_ts) * 60 + minute(n.cairo_ts) < d.open_min
    OR hour(n.cairo_ts) * 60 + minute(n.cairo_ts) >= d.close_min
    OR c.TICKER IS NULL OR x.ticker IS NOT NULL;

CREATE OR REPLACE TEMP VIEW egx_checked AS
SELECT n.egx_file_key, n.egx_etag, n.egx_line, n.ticker, n.bar_start, n.trade_date, n.open,
  n.high, n.low, n.close, n.volume, b.reason
FROM egx_norm n
LEFT JOIN egx_bad b ON b.egx_file_key = n.egx_file_key AND b.egx_line = n.egx_line;
