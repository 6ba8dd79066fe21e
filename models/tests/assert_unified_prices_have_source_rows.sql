/*---
description: Every silver daily bar still has a source row (incremental runs never delete, so a (ticker, day) whose source rows were all deleted keeps its stale bar until models_run --full-refresh; this reports it).
---*/
select u.TICKER, u.TRADE_DATE, u.DATA_SOURCE, u.CLOSE
from {{ ref('stg_stock_prices_unified') }} as u
left join {{ source('operational', 'TBL_STOCK_PRICE') }} as s
  on upper(trim(s.TICKER)) = u.TICKER and s.TRADE_DATE = u.TRADE_DATE
where s.TICKER is null
