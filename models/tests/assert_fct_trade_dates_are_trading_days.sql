/*---
description: Every daily bar is on an EGX trading day (not a weekend, not an announced closure).
---*/
select p.TICKER, p.TRADE_DATE, d.DAY_NAME, d.CLOSURE_NAME
from {{ ref('gold_fct_stock_daily_prices') }} as p
join {{ ref('gold_dim_date') }} as d on d.DATE_DAY = p.TRADE_DATE
where not d.IS_TRADING_DAY
