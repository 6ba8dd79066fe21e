-- Screener snapshot: ticker,snapshot_date,last_price,change_pct,volume,market_cap,pe_ratio,
-- pb_ratio,dividend_yield,eps_ttm,high_52w,low_52w (ratios may be blank = unknown).
CREATE OR REPLACE TEMP TABLE egx_checked AS
SELECT n.*, NULLIF(concat_ws('; ',
    CASE WHEN egx_blank(n.ticker_raw) THEN 'missing ticker' END,
    egx_ticker_problem(n.ticker_raw, n.ticker),
    egx_problem('snapshot_date', n.sd_raw, n.snapshot_date),
    -- As for a trade date (days.sql): a typo's year (2205, 0001) is no snapshot; stored, a future
    -- one stayed every ticker's latest (gold_dim_company) over each real snapshot loaded after it.
    CASE WHEN n.snapshot_date > getvariable('as_of_date')::DATE
      THEN 'snapshot date ' || n.snapshot_date::VARCHAR || ' is after the as-of date '
        || getvariable('as_of_date')
      WHEN n.snapshot_date < getvariable('min_trade_date')::DATE
      THEN 'snapshot date ' || n.snapshot_date::VARCHAR || ' is before the earliest accepted date '
        || getvariable('min_trade_date') END,
    egx_problem('last_price', n.lp_raw, n.last_price),
    CASE WHEN n.bad_values <> '' THEN 'unparsable ' || n.bad_values END,
    CASE WHEN n.last_price <= 0 OR n.high_52w <= 0 OR n.low_52w <= 0 THEN 'non-positive price' END,
    CASE WHEN n.volume < 0 THEN 'negative volume' END,
    CASE WHEN egx_too_big(n.volume) THEN 'volume too large (10^15 or more)' END,
    CASE WHEN n.high_52w < n.low_52w THEN 'high_52w < low_52w' END,
    CASE WHEN NOT egx_blank(n.ticker) AND c.TICKER IS NULL THEN 'unknown ticker ' || n.ticker END,
    CASE WHEN n.snapshot_date IS NOT NULL
      AND count(*) OVER (PARTITION BY n.ticker, n.snapshot_date) > 1
      THEN 'duplicate key (ticker, snapshot date) in the file' END
  ), '') AS reason
FROM (
  SELECT egx_file_key, egx_etag, egx_line, ticker AS ticker_raw, egx_ticker(ticker) AS ticker,
    snapshot_date AS sd_raw, TRY_CAST(trim(snapshot_date) AS DATE) AS snapshot_date,
    last_price AS lp_raw, egx_num(last_price) AS last_price,
    egx_num(replace(change_pct, '%', '')) AS change_pct, egx_volume(volume) AS volume,
    egx_volume(market_cap) AS market_cap, egx_num(pe_ratio) AS pe_ratio,
    egx_num(pb_ratio) AS pb_ratio, egx_num(replace(dividend_yield, '%', '')) AS dividend_yield,
    egx_num(eps_ttm) AS eps_ttm, egx_num(high_52w) AS high_52w, egx_num(low_52w) AS low_52w,
    concat_ws(', ',
      CASE WHEN NOT egx_blank(change_pct) AND egx_num(replace(change_pct, '%', '')) IS NULL
        THEN 'change_pct' END,
      CASE WHEN NOT egx_blank(volume) AND egx_volume(volume) IS NULL THEN 'volume' END,
      CASE WHEN NOT egx_blank(market_cap) AND egx_volume(market_cap) IS NULL THEN 'market_cap' END,
      CASE WHEN NOT egx_blank(pe_ratio) AND egx_num(pe_ratio) IS NULL THEN 'pe_ratio' END,
      CASE WHEN NOT egx_blank(pb_ratio) AND egx_num(pb_ratio) IS NULL THEN 'pb_ratio' END,
      CASE WHEN NOT egx_blank(dividend_yield)
        AND egx_num(replace(dividend_yield, '%', '')) IS NULL THEN 'dividend_yield' END,
      CASE WHEN NOT egx_blank(eps_ttm) AND egx_num(eps_ttm) IS NULL THEN 'eps_ttm' END,
      CASE WHEN NOT egx_blank(high_52w) AND egx_num(high_52w) IS NULL THEN 'high_52w' END,
      CASE WHEN NOT egx_blank(low_52w) AND egx_num(low_52w) IS NULL THEN 'low_52w' END
    ) AS bad_values
  FROM egx_raw
) n
LEFT JOIN egx_company c ON c.TICKER = n.ticker;
