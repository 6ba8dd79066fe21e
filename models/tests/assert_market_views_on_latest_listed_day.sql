/*---
description: vw_market_snapshot's MARKET_DATE and vw_volume_leaders' day are the newest silver trade date of a company in stg_companies (a view that is empty or on another day is reported; vw_top_movers is checked by assert_top_movers_follow_silver).
---*/
with expected as (
  select max(p.TRADE_DATE) as MARKET_DATE
  from {{ ref('stg_stock_prices_unified') }} as p
  join {{ ref('stg_companies') }} as c on c.TICKER = p.TICKER
),
shown as (
  select 'vw_market_snapshot' as VIEW_NAME, min(MARKET_DATE) as FIRST_DAY, max(MARKET_DATE) as LAST_DAY
  from {{ ref('vw_market_snapshot') }}
  union all
  select 'vw_volume_leaders', min(TRADE_DATE), max(TRADE_DATE) from {{ ref('vw_volume_leaders') }}
)
select s.VIEW_NAME, s.FIRST_DAY, s.LAST_DAY, e.MARKET_DATE
from shown as s
cross join expected as e
where e.MARKET_DATE is not null
  and (s.FIRST_DAY is null or s.FIRST_DAY <> e.MARKET_DATE or s.LAST_DAY <> e.MARKET_DATE)
