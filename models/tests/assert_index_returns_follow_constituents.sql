/*---
description: Each index's daily return is the mean of its members' returns recomputed from the silver bars (close against the previous silver close), weighted by the listed weight for a cap-weighted index (a missing weight takes the day's average listed weight, or 1 when none is listed), 0 on the base date; and its level is BASE_VALUE grown by those returns. Tolerance 1e-9 on the return (in percent), 1e-9 relative on the level.
---*/
with silver as (
  select
    TICKER,
    TRADE_DATE,
    CLOSE / nullif(lag(CLOSE) over (partition by TICKER order by TRADE_DATE), 0) - 1 as RET
  from {{ ref('stg_stock_prices_unified') }}
),
member_days as (
  select m.INDEX_CODE, m.WEIGHTING, m.WEIGHT, s.TRADE_DATE, s.RET
  from silver as s
  join {{ ref('stg_index_membership') }} as m
    on m.TICKER = s.TICKER
    and s.TRADE_DATE >= m.EFFECTIVE_FROM
    and (m.EFFECTIVE_TO is null or s.TRADE_DATE < m.EFFECTIVE_TO)
  qualify row_number() over (
    partition by m.INDEX_CODE, s.TICKER, s.TRADE_DATE order by m.EFFECTIVE_FROM desc
  ) = 1
),
weighted as (
  select
    INDEX_CODE,
    TRADE_DATE,
    RET,
    case
      when WEIGHTING = 'EQUAL_WEIGHTED' then 1
      else coalesce(WEIGHT, avg(WEIGHT) over (partition by INDEX_CODE, TRADE_DATE), 1)
    end as W
  from member_days
),
days as (
  select
    INDEX_CODE,
    TRADE_DATE,
    coalesce(sum(W * RET) / nullif(sum(case when RET is not null then W end), 0), 0) as RET
  from weighted
  group by INDEX_CODE, TRADE_DATE
),
expected as (
  select
    INDEX_CODE,
    TRADE_DATE,
    case when TRADE_DATE = min(TRADE_DATE) over (partition by INDEX_CODE) then 0 else RET end
      as RET
  from days
),
grown as (
  select
    INDEX_CODE,
    TRADE_DATE,
    RET,
    exp(sum(ln(1 + RET)) over (
      partition by INDEX_CODE order by TRADE_DATE
      rows between unbounded preceding and current row
    )) as GROWTH
  from expected
)
select
  coalesce(f.INDEX_CODE, g.INDEX_CODE) as INDEX_CODE,
  coalesce(f.TRADE_DATE, g.TRADE_DATE) as TRADE_DATE,
  f.DAILY_RETURN_PCT,
  g.RET * 100 as EXPECTED_RETURN_PCT,
  f.INDEX_LEVEL,
  f.BASE_VALUE * g.GROWTH as EXPECTED_LEVEL
from {{ ref('gold_fct_index_performance') }} as f
full outer join grown as g on g.INDEX_CODE = f.INDEX_CODE and g.TRADE_DATE = f.TRADE_DATE
where f.INDEX_CODE is null
  or g.INDEX_CODE is null
  or abs(f.DAILY_RETURN_PCT - g.RET * 100) > 1e-9
  or abs(f.INDEX_LEVEL - f.BASE_VALUE * g.GROWTH) > 1e-9 * f.INDEX_LEVEL
