/*---
description: The market snapshot shows each company's newest bar.
---*/
select s.TICKER, s.TRADE_DATE, max(p.TRADE_DATE) as NEWEST
from {{ ref('vw_market_snapshot') }} as s
join {{ ref('gold_fct_stock_daily_prices') }} as p on p.TICKER = s.TICKER
group by s.TICKER, s.TRADE_DATE
having s.TRADE_DATE <> max(p.TRADE_DATE)
