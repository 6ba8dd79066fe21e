/*---
materialized: view
---*/
-- Gainers and losers of the latest market day: every company that traded that day and has a
-- return; the risers ranked by GAINER_RANK (1 = best return), the fallers by LOSER_RANK (1 =
-- worst), ties by ticker; NULL for the others (a flat stock is neither a gainer nor a loser).
-- Take the top N with `where GAINER_RANK <= N` or `where LOSER_RANK <= N`.
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
  p.PREV_CLOSE,
  p.DAILY_CHANGE,
  p.DAILY_RETURN_PCT,
  p.VOLUME,
  case
    when p.DAILY_RETURN_PCT > 0 then 'UP'
    when p.DAILY_RETURN_PCT < 0 then 'DOWN'
    else 'FLAT'
  end as DIRECTION,
  case when p.DAILY_RETURN_PCT > 0 then
    row_number() over (partition by sign(p.DAILY_RETURN_PCT) order by p.DAILY_RETURN_PCT desc, p.TICKER)
  end as GAINER_RANK,
  case when p.DAILY_RETURN_PCT < 0 then
    row_number() over (partition by sign(p.DAILY_RETURN_PCT) order by p.DAILY_RETURN_PCT asc, p.TICKER)
  end as LOSER_RANK
from {{ ref('gold_fct_stock_daily_prices') }} as p
join market as m on p.TRADE_DATE = m.MARKET_DATE
join {{ ref('gold_dim_company') }} as c on c.TICKER = p.TICKER
where p.DAILY_RETURN_PCT is not null
