/*---
materialized: view
---*/
-- Gainers and losers of the latest market day: every company that traded that day and has a
-- return, ranked both ways (GAINER_RANK 1 = best return, LOSER_RANK 1 = worst; ties by ticker).
-- Take the top N with `where GAINER_RANK <= N` or `where LOSER_RANK <= N`.
with market as (
  select max(TRADE_DATE) as MARKET_DATE from {{ ref('gold_fct_stock_daily_prices') }}
)
select
  p.TRADE_DATE,
  p.TICKER,
  c.COMPANY_NAME,
  c.SECTOR,
  p.CLOSE,
  p.PREV_CLOSE,
  p.DAILY_CHANGE,
  p.DAILY_RETURN_PCT,
  p.VOLUME,
  case
    when p.DAILY_RETURN_PCT > 0 then 'UP'
    when p.DAILY_RETURN_PCT < 0 then 'DOWN'
    else 'FLAT'
  end as DIRECTION,
  row_number() over (order by p.DAILY_RETURN_PCT desc, p.TICKER) as GAINER_RANK,
  row_number() over (order by p.DAILY_RETURN_PCT asc, p.TICKER) as LOSER_RANK
from {{ ref('gold_fct_stock_daily_prices') }} as p
join market as m on p.TRADE_DATE = m.MARKET_DATE
join {{ ref('gold_dim_company') }} as c on c.TICKER = p.TICKER
where p.DAILY_RETURN_PCT is not null
