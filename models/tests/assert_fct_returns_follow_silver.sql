/*---
description: Each daily return is the one recomputed from the silver bars (the day's close against the close of the ticker's previous silver bar), within 1e-9 percentage points; a ticker's first bar has none.
---*/
with silver as (
  select
    TICKER,
    TRADE_DATE,
    CLOSE / lag(CLOSE) over (partition by TICKER order by TRADE_DATE) - 1 as SILVER_RETURN
  from {{ ref('stg_stock_prices_unified') }}
)
select f.TICKER, f.TRADE_DATE, f.DAILY_RETURN_PCT, s.SILVER_RETURN * 100 as SILVER_RETURN_PCT
from {{ ref('gold_fct_stock_daily_prices') }} as f
join silver as s on s.TICKER = f.TICKER and s.TRADE_DATE = f.TRADE_DATE
where (f.DAILY_RETURN_PCT is null) <> (s.SILVER_RETURN is null)
  or abs(f.DAILY_RETURN_PCT - s.SILVER_RETURN * 100) > 1e-9
