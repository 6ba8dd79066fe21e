/*---
description: The silver bar of each ticker and day comes from its most trusted source, with that source's prices.
---*/
with best as (
  select
    upper(trim(TICKER)) as TICKER,
    TRADE_DATE,
    min(case DATA_SOURCE
      when 'BATCH_CSV' then 1
      when 'TRADINGVIEW_EXPORT' then 2
      when 'BARS_1M' then 3
      when 'INVESTING_EXPORT' then 4
      when 'STREAMING_API' then 5
      else 9
    end) as BEST_RANK
  from {{ source('operational', 'TBL_STOCK_PRICE') }}
  group by upper(trim(TICKER)), TRADE_DATE
)
select u.TICKER, u.TRADE_DATE, u.DATA_SOURCE, u.SOURCE_RANK, b.BEST_RANK
from {{ ref('stg_stock_prices_unified') }} as u
join best as b on b.TICKER = u.TICKER and b.TRADE_DATE = u.TRADE_DATE
left join {{ source('operational', 'TBL_STOCK_PRICE') }} as s
  on upper(trim(s.TICKER)) = u.TICKER and s.TRADE_DATE = u.TRADE_DATE
  and s.DATA_SOURCE = u.DATA_SOURCE
where u.SOURCE_RANK <> b.BEST_RANK
  or s.TICKER is null
  or s.CLOSE <> u.CLOSE
  or s.VOLUME is distinct from u.VOLUME
