/*---
description: Every (ticker, trade date) of the source table reaches the silver layer (no silent gaps).
---*/
select s.TICKER, s.TRADE_DATE, count(*) as SOURCE_ROWS
from {{ source('operational', 'TBL_STOCK_PRICE') }} as s
left join {{ ref('stg_stock_prices_unified') }} as u
  on u.TICKER = upper(trim(s.TICKER)) and u.TRADE_DATE = s.TRADE_DATE
where u.TICKER is null
group by s.TICKER, s.TRADE_DATE
