-- The trade dates present in egx_norm, with whether EGX traded that day and its session (a
-- special session such as Ramadan wins), and whether the date is before the earliest one accepted
-- (variable min_trade_date) or after the as-of date (as_of_date, the Cairo date of the load's
-- "now"): computed once per date, not once per row. `problem`: why a row of that date is
-- quarantined (too early, after the as-of date, not a trading day), NULL when the date is good.
CREATE OR REPLACE TEMP TABLE egx_days AS
SELECT d.trade_date,
  CASE
    WHEN d.trade_date < getvariable('min_trade_date')::DATE
    THEN 'trade date ' || d.trade_date::VARCHAR || ' is before the earliest accepted date '
      || getvariable('min_trade_date')
    WHEN d.trade_date > getvariable('as_of_date')::DATE
    THEN 'trade date ' || d.trade_date::VARCHAR || ' is after the as-of date '
      || getvariable('as_of_date')
    WHEN NOT (dayofweek(d.trade_date) IN (SELECT dow FROM egx_weekday)
      AND d.trade_date NOT IN (SELECT CLOSURE_DATE FROM OPERATIONAL.TBL_MARKET_CLOSURE))
    THEN 'not an EGX trading day (' || strftime(d.trade_date, '%A %Y-%m-%d') || ')'
  END AS problem,
  arg_max(s.open_min, s.priority) AS open_min, arg_max(s.close_min, s.priority) AS close_min,
  arg_max(s.label, s.priority) AS label
FROM (SELECT DISTINCT trade_date FROM egx_norm WHERE trade_date IS NOT NULL) d
JOIN egx_session s ON d.trade_date BETWEEN s.from_date AND s.to_date
GROUP BY d.trade_date;
