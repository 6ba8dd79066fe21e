-- Validate normalised daily rows (egx_norm): every problem of a row is listed in `reason`
-- (NULL = good). Checks: missing or unparsable fields, non-positive prices, negative volume,
-- high < low, open/close outside [low, high], a date out of range, before the earliest accepted
-- (min_trade_date) or after the as-of date (as_of_date), not an EGX trading day, a ticker that
-- breaks the rule (t_raw as written, ticker its code: NULL then, egx_ticker), unknown ticker,
-- and the same (ticker, trade date) twice in the file. A row whose volume the file says it does
-- not have (v_none: an Investing.com export's "-") has no volume checks and keeps volume NULL.
-- Duplicates: grouping every row by its text key is slow (1M rows: ~0.2 s), so candidates come
-- from one 64-bit hash of the key per row, and only the rows of a candidate hash (usually none)
-- are grouped by the key itself: exact whatever the hashes collide on.
CREATE OR REPLACE TEMP TABLE egx_dup_hash AS
SELECT hash(egx_file_key, ticker, trade_date) AS h FROM egx_norm GROUP BY ALL HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE egx_dup AS
SELECT egx_file_key, ticker, trade_date FROM egx_norm
WHERE hash(egx_file_key, ticker, trade_date) IN (SELECT h FROM egx_dup_hash)
  AND trade_date IS NOT NULL AND NOT egx_blank(ticker)
GROUP BY ALL HAVING count(*) > 1;

-- Only the bad rows are materialised, with their reasons: a cheap test picks them (most rows
-- are good) and the reason spells out every problem. egx_checked (all rows, reason NULL = good)
-- is a view over egx_norm and that small table.
CREATE OR REPLACE TEMP TABLE egx_bad AS
SELECT n.egx_file_key, n.egx_line, NULLIF(concat_ws('; ',
    CASE WHEN egx_blank(n.t_raw) THEN 'missing ticker' END,
    egx_ticker_problem(n.t_raw, n.ticker),
    -- (A TradingView time whose UTC offset is not a real one has no trade date: its offset is
    -- named. A typed d_raw, a DATE, has no offset.)
    coalesce(egx_offset_problem(n.d_raw), egx_problem('trade date', n.d_raw, n.trade_date)),
    -- (A volume that is not known is checked as 0, which has no problem: the prices still are.)
    egx_ohlcv_problems(n.o_raw, n.open, n.h_raw, n.high, n.l_raw, n.low, n.c_raw, n.close,
      if(n.v_none, '0', n.v_raw), if(n.v_none, 0, n.volume)),
    -- A date egx_days does not hold is outside the calendar's 0001-01-01..9999-12-31 (a typo, or
    -- epoch milliseconds taken for seconds): not a trading day. (d.problem alone is NULL.)
    CASE WHEN n.trade_date IS NOT NULL AND d.trade_date IS NULL
      THEN 'trade date out of range 0001-01-01..9999-12-31 (' || n.trade_date::VARCHAR || ')'
      WHEN d.problem IS NOT NULL THEN d.problem END,
    CASE WHEN NOT egx_blank(n.ticker) AND c.TICKER IS NULL
      THEN 'unknown ticker ' || n.ticker END,
    CASE WHEN x.ticker IS NOT NULL THEN 'duplicate key (ticker, trade date) in the file' END
  ), '') AS reason
FROM egx_norm n
LEFT JOIN egx_days d ON d.trade_date = n.trade_date
LEFT JOIN egx_company c ON c.TICKER = n.ticker
LEFT JOIN egx_dup x ON x.egx_file_key = n.egx_file_key AND x.ticker = n.ticker
  AND x.trade_date = n.trade_date
WHERE n.ticker IS NULL OR n.ticker = '' OR n.trade_date IS NULL
    OR egx_ohlcv_bad(n.open, n.high, n.low, n.close, if(n.v_none, 0, n.volume))
    OR d.trade_date IS NULL
    OR d.problem IS NOT NULL
    OR c.TICKER IS NULL OR x.ticker IS NOT NULL;

CREATE OR REPLACE TEMP VIEW egx_checked AS
SELECT n.egx_file_key, n.egx_etag, n.egx_line, n.ticker, n.trade_date, n.open, n.high, n.low,
  n.close, n.volume, b.reason
FROM egx_norm n
LEFT JOIN egx_bad b ON b.egx_file_key = n.egx_file_key AND b.egx_line = n.egx_line;
