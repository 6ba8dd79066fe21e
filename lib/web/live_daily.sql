-- Market data. The API reads the gold layer, and overlays the operational rows of days the
-- models have not seen yet (the stream's bars during a session), so the dashboard moves while
-- the stream runs. Source precedence for those rows is the staging model's
-- (stg_stock_prices_unified); the derived columns use the gold fact's formulas.
-- Statements include it as `with {{live_daily}} select ... from daily` (lib/web/named_sql.ts).

-- name: live_daily
gold_end as (
  select TICKER, TRADE_DATE as LAST_DATE, CLOSE as LAST_CLOSE
  from DWH_GOLD.gold_fct_stock_daily_prices
  qualify row_number() over (partition by TICKER order by TRADE_DATE desc) = 1
),
fresh as (
  select
    upper(trim(p.TICKER)) as TICKER, p.TRADE_DATE, p.OPEN, p.HIGH, p.LOW, p.CLOSE, p.VOLUME,
    p.DATA_SOURCE, g.LAST_CLOSE
  from OPERATIONAL.TBL_STOCK_PRICE as p
  left join gold_end as g on g.TICKER = upper(trim(p.TICKER))
  where p.TRADE_DATE > coalesce(g.LAST_DATE, DATE '1900-01-01')
  qualify row_number() over (
    partition by upper(trim(p.TICKER)), p.TRADE_DATE
    order by
      case p.DATA_SOURCE
        when 'BATCH_CSV' then 1
        when 'TRADINGVIEW_EXPORT' then 2
        when 'BARS_1M' then 3
        when 'INVESTING_EXPORT' then 4
        when 'STREAMING_API' then 5
        else 9
      end,
      p.UPDATED_AT desc
  ) = 1
),
fresh_prev as (
  select
    f.*,
    coalesce(lag(f.CLOSE) over (partition by f.TICKER order by f.TRADE_DATE), f.LAST_CLOSE)
      as PREV_CLOSE
  from fresh as f
),
daily as (
  select
    TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, PREV_CLOSE, DAILY_CHANGE,
    DAILY_RETURN_PCT, TURNOVER_ESTIMATE, DATA_SOURCE, false as IS_LIVE
  from DWH_GOLD.gold_fct_stock_daily_prices
  union all
  select
    TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, PREV_CLOSE, CLOSE - PREV_CLOSE,
    case when PREV_CLOSE > 0 then (CLOSE / PREV_CLOSE - 1) * 100 end,
    (HIGH + LOW + CLOSE) / 3 * VOLUME, DATA_SOURCE, true
  from fresh_prev
)
