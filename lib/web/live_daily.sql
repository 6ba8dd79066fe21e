-- Market data. The API reads the gold layer, and overlays the operational rows the models have
-- not built yet, so the dashboard moves while the stream runs: days after a ticker's last gold day,
-- and its last gold day itself when its best operational row now differs from the one the models
-- built (the 14:00 Cairo build of a session that closes at 14:30, updated by the later polls).
-- Source precedence for those rows is the staging model's (stg_stock_prices_unified); the derived
-- columns use the gold fact's formulas.
-- Statements include it as `with {{live_daily}} select ... from daily` (lib/web/named_sql.ts).

-- name: live_daily
gold_end as (
  select
    TICKER, TRADE_DATE as LAST_DATE, OPEN, HIGH, LOW, CLOSE as LAST_CLOSE, VOLUME, DATA_SOURCE,
    PREV_CLOSE as LAST_PREV_CLOSE
  from DWH_GOLD.gold_fct_stock_daily_prices
  qualify row_number() over (partition by TICKER order by TRADE_DATE desc) = 1
),
best as (
  select
    upper(trim(p.TICKER)) as TICKER, p.TRADE_DATE, p.OPEN, p.HIGH, p.LOW, p.CLOSE, p.VOLUME,
    p.DATA_SOURCE
  from OPERATIONAL.TBL_STOCK_PRICE as p
  left join gold_end as g on g.TICKER = upper(trim(p.TICKER))
  where p.TRADE_DATE >= coalesce(g.LAST_DATE, DATE '1900-01-01')
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
fresh as (
  select
    b.*,
    case when b.TRADE_DATE = g.LAST_DATE then g.LAST_PREV_CLOSE else g.LAST_CLOSE end
      as GOLD_PREV_CLOSE
  from best as b
  left join gold_end as g on g.TICKER = b.TICKER
  where g.TICKER is null
    or b.TRADE_DATE > g.LAST_DATE
    or b.DATA_SOURCE <> g.DATA_SOURCE
    or b.OPEN <> g.OPEN or b.HIGH <> g.HIGH or b.LOW <> g.LOW or b.CLOSE <> g.LAST_CLOSE
    or b.VOLUME is distinct from g.VOLUME -- NULL: an Investing.com "-" (not known)
),
fresh_prev as (
  select
    f.*,
    coalesce(lag(f.CLOSE) over (partition by f.TICKER order by f.TRADE_DATE), f.GOLD_PREV_CLOSE)
      as PREV_CLOSE
  from fresh as f
),
daily as (
  select
    TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, PREV_CLOSE, DAILY_CHANGE,
    DAILY_RETURN_PCT, TURNOVER_ESTIMATE, DATA_SOURCE, false as IS_LIVE
  from DWH_GOLD.gold_fct_stock_daily_prices as d
  where not exists (
    select 1 from fresh as f where f.TICKER = d.TICKER and f.TRADE_DATE = d.TRADE_DATE
  )
  union all
  select
    TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, PREV_CLOSE, CLOSE - PREV_CLOSE,
    case when PREV_CLOSE > 0 then (CLOSE / PREV_CLOSE - 1) * 100 end,
    (HIGH + LOW + CLOSE) / 3 * VOLUME, DATA_SOURCE, true
  from fresh_prev
)
