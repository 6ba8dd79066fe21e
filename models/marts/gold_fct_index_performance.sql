-- Index level per index and trade date, computed from the constituents' daily prices.
--
-- Method: the index return of a day is the weighted average of its constituents' daily returns
-- (close / previous close - 1) over the members effective that day that have a return.
--   EQUAL_WEIGHTED indices (EGX70 EWI, EGX100 EWI): every member weighs the same.
--   CAP_WEIGHTED (EGX30): the listed weight; a member whose weight is missing gets the average
--   listed weight of that day's members (or 1 when none is listed), so the level is never NULL
--   because a weight is missing. Weights are held constant between list updates (no daily drift).
-- Level: BASE_VALUE (OPERATIONAL.TBL_INDEX.BASE_VALUE, else var('default_index_base') = 1000) on
-- the first trade date with constituent prices (BASE_DATE), then chained:
--   level_d = level_(d-1) * (1 + return_d).
-- A stock counts once per index and day, also when its membership periods overlap (the period
-- with the latest EFFECTIVE_FROM wins; the staging test
-- assert_index_membership_periods_do_not_overlap reports such lists).
-- It is an index of the constituents we have prices for, not the exchange's published level.
with members as (
  select INDEX_CODE, TICKER, EFFECTIVE_FROM, EFFECTIVE_TO, WEIGHT, WEIGHTING, INDEX_NAME
  from {{ ref('stg_index_membership') }}
),
index_def as (
  select
    upper(trim(INDEX_CODE)) as INDEX_CODE,
    max(BASE_VALUE) as BASE_VALUE
  from {{ source('operational', 'TBL_INDEX') }}
  group by upper(trim(INDEX_CODE))
),
member_days as (
  select
    m.INDEX_CODE,
    m.INDEX_NAME,
    m.WEIGHTING,
    p.TRADE_DATE,
    p.TICKER,
    m.WEIGHT,
    p.VOLUME,
    p.TURNOVER_ESTIMATE,
    case when p.PREV_CLOSE > 0 then p.CLOSE / p.PREV_CLOSE - 1 end as MEMBER_RETURN
  from {{ ref('gold_fct_stock_daily_prices') }} as p
  join members as m
    on m.TICKER = p.TICKER
    and p.TRADE_DATE >= m.EFFECTIVE_FROM
    and (m.EFFECTIVE_TO is null or p.TRADE_DATE < m.EFFECTIVE_TO)
  -- Overlapping periods of one stock in one index (a newer list that did not close the older
  -- row) count it once: the period that started last wins (its weight is used).
  qualify row_number() over (
    partition by m.INDEX_CODE, p.TICKER, p.TRADE_DATE order by m.EFFECTIVE_FROM desc
  ) = 1
),
weighted as (
  select
    d.*,
    case
      when d.WEIGHTING = 'EQUAL_WEIGHTED' then 1
      else coalesce(
        d.WEIGHT,
        cast(avg(cast(d.WEIGHT as NUMBER(38, 18))) over (partition by d.INDEX_CODE, d.TRADE_DATE)
          as FLOAT),
        1
      )
    end as EFFECTIVE_WEIGHT
  from member_days as d
),
per_day as (
  select
    INDEX_CODE,
    max(INDEX_NAME) as INDEX_NAME,
    max(WEIGHTING) as WEIGHTING,
    TRADE_DATE,
    count(*) as CONSTITUENTS_TRADED,
    count(MEMBER_RETURN) as CONSTITUENTS_WITH_RETURN,
    count(WEIGHT) as CONSTITUENTS_WITH_WEIGHT,
    -- Sums of doubles depend on the order the warehouse adds them (the last bits differ between
    -- two runs); summing exact decimals makes every run give the same value.
    cast(
      sum(case when MEMBER_RETURN is not null then
        cast(EFFECTIVE_WEIGHT * MEMBER_RETURN as NUMBER(38, 18)) end) as FLOAT
    ) / nullif(cast(
      sum(case when MEMBER_RETURN is not null then
        cast(EFFECTIVE_WEIGHT as NUMBER(38, 18)) end) as FLOAT
    ), 0) as INDEX_RETURN,
    sum(case when MEMBER_RETURN > 0 then 1 else 0 end) as ADVANCERS,
    sum(case when MEMBER_RETURN < 0 then 1 else 0 end) as DECLINERS,
    sum(case when MEMBER_RETURN = 0 then 1 else 0 end) as UNCHANGED,
    sum(VOLUME) as TOTAL_VOLUME,
    cast(sum(cast(TURNOVER_ESTIMATE as NUMBER(38, 6))) as FLOAT) as TOTAL_TURNOVER
  from weighted
  group by INDEX_CODE, TRADE_DATE
),
effective_members as (
  select d.INDEX_CODE, d.TRADE_DATE, count(distinct m.TICKER) as CONSTITUENTS
  from per_day as d
  join members as m
    on m.INDEX_CODE = d.INDEX_CODE
    and d.TRADE_DATE >= m.EFFECTIVE_FROM
    and (m.EFFECTIVE_TO is null or d.TRADE_DATE < m.EFFECTIVE_TO)
  group by d.INDEX_CODE, d.TRADE_DATE
),
based as (
  select d.*, min(d.TRADE_DATE) over (partition by d.INDEX_CODE) as BASE_DATE
  from per_day as d
),
-- The level is the base value at the end of BASE_DATE, so that day's return does not count
-- (constituents may have moved that day: their history starts before the index's).
day_returns as (
  select
    b.*,
    case when b.TRADE_DATE = b.BASE_DATE then 0 else coalesce(b.INDEX_RETURN, 0) end
      as DAY_RETURN
  from based as b
),
chained as (
  select
    d.*,
    coalesce(i.BASE_VALUE, {{ var('default_index_base') }}) as BASE_VALUE,
    sum(ln(1 + d.DAY_RETURN)) over (
      partition by d.INDEX_CODE order by d.TRADE_DATE
      rows between unbounded preceding and current row
    ) as LOG_GROWTH
  from day_returns as d
  left join index_def as i on i.INDEX_CODE = d.INDEX_CODE
)
select
  c.INDEX_CODE,
  c.INDEX_NAME,
  c.WEIGHTING,
  c.TRADE_DATE,
  c.BASE_VALUE * exp(c.LOG_GROWTH) as INDEX_LEVEL,
  c.DAY_RETURN * 100 as DAILY_RETURN_PCT,
  c.BASE_VALUE,
  c.BASE_DATE,
  e.CONSTITUENTS,
  c.CONSTITUENTS_TRADED,
  c.CONSTITUENTS_WITH_RETURN,
  c.CONSTITUENTS_WITH_WEIGHT,
  case
    when c.WEIGHTING = 'EQUAL_WEIGHTED' then 'EQUAL'
    when c.CONSTITUENTS_WITH_WEIGHT = c.CONSTITUENTS_TRADED then 'LISTED_WEIGHTS'
    when c.CONSTITUENTS_WITH_WEIGHT = 0 then 'EQUAL_FALLBACK'
    else 'LISTED_WEIGHTS_WITH_AVERAGE_FILL'
  end as WEIGHT_METHOD,
  c.ADVANCERS,
  c.DECLINERS,
  c.UNCHANGED,
  c.TOTAL_VOLUME,
  c.TOTAL_TURNOVER
from chained as c
join effective_members as e on e.INDEX_CODE = c.INDEX_CODE and e.TRADE_DATE = c.TRADE_DATE
