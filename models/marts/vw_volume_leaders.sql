/*---
materialized: view
---*/
-- Volume leaders of the latest market day: every company that traded that day, ranked by shares
-- traded (VOLUME_RANK) and by estimated value traded (TURNOVER_RANK), ties by ticker. A company
-- whose volume is not known (NULL, an Investing.com "-") ranks after every known one (Snowflake
-- sorts NULL first in a descending order unless told).
-- The market day counts the companies the view shows (gold_dim_company): a ticker the
-- dimension lacks (prices loaded before its company was built) would make a day with no row.
with market as (
  select max(p.TRADE_DATE) as MARKET_DATE
  from {{ ref('gold_fct_stock_daily_prices') }} as p
  join {{ ref('gold_dim_company') }} as c on c.TICKER = p.TICKER
)
select
  p.TRADE_DATE,
  p.TICKER,
  c.COMPANY_NAME,
  c.SECTOR,
  p.CLOSE,
  p.DAILY_RETURN_PCT,
  p.VOLUME,
  p.TURNOVER_ESTIMATE,
  p.VOLUME_AVG_30,
  p.VOLUME_RATIO,
  p.VOLUME_SIGNAL,
  row_number() over (order by p.VOLUME desc nulls last, p.TICKER) as VOLUME_RANK,
  row_number() over (order by p.TURNOVER_ESTIMATE desc nulls last, p.TICKER) as TURNOVER_RANK
from {{ ref('gold_fct_stock_daily_prices') }} as p
join market as m on p.TRADE_DATE = m.MARKET_DATE
join {{ ref('gold_dim_company') }} as c on c.TICKER = p.TICKER
