/*---
materialized: view
---*/
-- Sector performance per trade date: how many of the sector's companies traded, their average
-- and median daily return, breadth (advancers/decliners) and volume and value traded.
-- Sums and averages go through exact decimals, so the same data always gives the same value.
select
  c.SECTOR_KEY,
  c.SECTOR,
  p.TRADE_DATE,
  count(*) as COMPANIES_TRADED,
  cast(avg(cast(p.DAILY_RETURN_PCT as NUMBER(38, 12))) as FLOAT) as AVG_RETURN_PCT,
  median(p.DAILY_RETURN_PCT) as MEDIAN_RETURN_PCT,
  min(p.DAILY_RETURN_PCT) as MIN_RETURN_PCT,
  max(p.DAILY_RETURN_PCT) as MAX_RETURN_PCT,
  sum(case when p.DAILY_RETURN_PCT > 0 then 1 else 0 end) as ADVANCERS,
  sum(case when p.DAILY_RETURN_PCT < 0 then 1 else 0 end) as DECLINERS,
  sum(case when p.DAILY_RETURN_PCT = 0 then 1 else 0 end) as UNCHANGED,
  sum(p.VOLUME) as TOTAL_VOLUME,
  cast(sum(cast(p.TURNOVER_ESTIMATE as NUMBER(38, 6))) as FLOAT) as TOTAL_TURNOVER
from {{ ref('gold_fct_stock_daily_prices') }} as p
join {{ ref('gold_dim_company') }} as c on c.TICKER = p.TICKER
group by c.SECTOR_KEY, c.SECTOR, p.TRADE_DATE
