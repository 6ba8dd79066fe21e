/*---
description: The gold fact has exactly the silver bars (same keys and closes), so incremental runs miss nothing.
---*/
select coalesce(u.TICKER, f.TICKER) as TICKER, coalesce(u.TRADE_DATE, f.TRADE_DATE) as TRADE_DATE,
  u.CLOSE as SILVER_CLOSE, f.CLOSE as GOLD_CLOSE
from {{ ref('stg_stock_prices_unified') }} as u
full outer join {{ ref('gold_fct_stock_daily_prices') }} as f
  on f.TICKER = u.TICKER and f.TRADE_DATE = u.TRADE_DATE
where u.TICKER is null or f.TICKER is null or u.CLOSE <> f.CLOSE
