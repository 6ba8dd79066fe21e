/*---
description: vw_top_movers holds, for the newest silver trade date of a company in stg_companies, every such company with a silver bar that day and one before, its DIRECTION from the two closes and its GAINER_RANK / LOSER_RANK among the risers / fallers by that return (ties by ticker); a row missing, extra or different is reported.
---*/
with silver as (
  select
    p.TICKER,
    p.TRADE_DATE,
    p.CLOSE,
    lag(p.CLOSE) over (partition by p.TICKER order by p.TRADE_DATE) as PREV_CLOSE
  from {{ ref('stg_stock_prices_unified') }} as p
  join {{ ref('stg_companies') }} as c on c.TICKER = p.TICKER
),
day_moves as (
  select TICKER, CLOSE / PREV_CLOSE - 1 as RET
  from silver
  where PREV_CLOSE > 0 and TRADE_DATE = (select max(TRADE_DATE) from silver)
),
expected as (
  select
    TICKER,
    case when RET > 0 then 'UP' when RET < 0 then 'DOWN' else 'FLAT' end as DIRECTION,
    case when RET > 0 then
      row_number() over (partition by RET > 0 order by RET desc, TICKER)
    end as GAINER_RANK,
    case when RET < 0 then
      row_number() over (partition by RET < 0 order by RET, TICKER)
    end as LOSER_RANK
  from day_moves
)
select
  coalesce(e.TICKER, v.TICKER) as TICKER,
  v.DIRECTION,
  e.DIRECTION as EXPECTED_DIRECTION,
  v.GAINER_RANK,
  e.GAINER_RANK as EXPECTED_GAINER_RANK,
  v.LOSER_RANK,
  e.LOSER_RANK as EXPECTED_LOSER_RANK
from expected as e
full outer join {{ ref('vw_top_movers') }} as v on v.TICKER = e.TICKER
where e.TICKER is null
  or v.TICKER is null
  or v.DIRECTION <> e.DIRECTION
  or coalesce(v.GAINER_RANK, 0) <> coalesce(e.GAINER_RANK, 0)
  or coalesce(v.LOSER_RANK, 0) <> coalesce(e.LOSER_RANK, 0)
