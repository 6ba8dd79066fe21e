-- The trade dates present in egx_norm, with whether EGX traded that day and its session (a
-- special session such as Ramadan wins): computed once per date, not once per row.
CREATE OR REPLACE TEMP TABLE egx_days AS
SELECT d.trade_date,
  dayofweek(d.trade_date) IN (SELECT dow FROM egx_weekday)
    AND d.trade_date NOT IN (SELECT CLOSURE_DATE FROM OPERATIONAL.TBL_MARKET_CLOSURE) AS trading,
  arg_max(s.open_min, s.priority) AS open_min, arg_max(s.close_min, s.priority) AS close_min,
  arg_max(s.label, s.priority) AS label
FROM (SELECT DISTINCT trade_date FROM egx_norm WHERE trade_date IS NOT NULL) d
JOIN egx_session s ON d.trade_date BETWEEN s.from_date AND s.to_date
GROUP BY d.trade_date;
