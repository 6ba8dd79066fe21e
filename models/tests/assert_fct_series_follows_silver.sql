/*---
description: Each daily fact row sits where the silver series puts it (its SERIES_INDEX is its position in the ticker's silver bars, its PREV_CLOSE the close of the silver bar before), so an incremental run that computed only the newest rows (lag and windows over them alone) is caught, not only a missing key.
---*/
with silver as (
  select
    TICKER,
    TRADE_DATE,
    lag(CLOSE) over (partition by TICKER order by TRADE_DATE) as PREV_CLOSE,
    row_number() over (partition by TICKER order by TRADE_DATE) - 1 as SERIES_INDEX
  from {{ ref('stg_stock_prices_unified') }}
)
select f.TICKER, f.TRADE_DATE, f.SERIES_INDEX, s.SERIES_INDEX as SILVER_SERIES_INDEX,
  f.PREV_CLOSE, s.PREV_CLOSE as SILVER_PREV_CLOSE
from {{ ref('gold_fct_stock_daily_prices') }} as f
join silver as s on s.TICKER = f.TICKER and s.TRADE_DATE = f.TRADE_DATE
where f.SERIES_INDEX <> s.SERIES_INDEX
  or (f.PREV_CLOSE is null) <> (s.PREV_CLOSE is null)
  or f.PREV_CLOSE <> s.PREV_CLOSE
