-- The EGX trading calendar, one row per calendar day from var('date_spine_start') to
-- 31 December of the year after as_of. A trading day is a Sunday-Thursday that is not an
-- announced market closure (OPERATIONAL.TBL_MARKET_CLOSURE, seeded from
-- lib/market/egx_calendar.json). The Cairo trading week runs Sunday to Thursday: CAIRO_WEEK_START
-- is the Sunday on or before the date.
with digits as (
  select 0 as D union all select 1 union all select 2 union all select 3 union all select 4
  union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),
numbers as (
  select d1.D + 10 * d2.D + 100 * d3.D + 1000 * d4.D + 10000 * d5.D as N
  from digits as d1
  cross join digits as d2
  cross join digits as d3
  cross join digits as d4
  cross join digits as d5
),
bounds as (
  select
    {{ var('date_spine_start') }}::DATE as FIRST_DAY,
    (cast(year({{ var('as_of_date') }}::DATE) + 2 as VARCHAR) || '-01-01')::DATE - 1 as LAST_DAY
),
spine as (
  select b.FIRST_DAY + n.N as DATE_DAY
  from numbers as n
  cross join bounds as b
  where b.FIRST_DAY + n.N <= b.LAST_DAY
),
days as (
  select
    s.DATE_DAY,
    dayofweekiso(s.DATE_DAY) as DAY_OF_WEEK_ISO,
    c.CLOSURE_DATE is not null as IS_CLOSURE,
    c.NAME as CLOSURE_NAME,
    dayofweekiso(s.DATE_DAY) in (5, 6) as IS_WEEKEND
  from spine as s
  left join {{ source('operational', 'TBL_MARKET_CLOSURE') }} as c
    on c.CLOSURE_DATE = s.DATE_DAY
),
flags as (
  select
    d.*,
    not d.IS_WEEKEND and not d.IS_CLOSURE as IS_TRADING_DAY
  from days as d
)
select
  year(DATE_DAY) * 10000 + month(DATE_DAY) * 100 + day(DATE_DAY) as DATE_KEY,
  DATE_DAY,
  year(DATE_DAY) as YEAR,
  quarter(DATE_DAY) as QUARTER,
  month(DATE_DAY) as MONTH,
  monthname(DATE_DAY) as MONTH_NAME,
  day(DATE_DAY) as DAY_OF_MONTH,
  DAY_OF_WEEK_ISO,
  dayname(DATE_DAY) as DAY_NAME,
  DATE_DAY - cast(mod(DAY_OF_WEEK_ISO, 7) as INTEGER) as CAIRO_WEEK_START,
  DATE_DAY - cast(mod(DAY_OF_WEEK_ISO, 7) as INTEGER) + 4 as CAIRO_WEEK_LAST_TRADING_WEEKDAY,
  IS_WEEKEND,
  IS_CLOSURE,
  CLOSURE_NAME,
  IS_TRADING_DAY,
  case
    when IS_TRADING_DAY then
      sum(case when IS_TRADING_DAY then 1 else 0 end) over (
        order by DATE_DAY rows between unbounded preceding and current row
      )
  end as TRADING_DAY_NUMBER,
  max(case when IS_TRADING_DAY then DATE_DAY end) over (
    order by DATE_DAY rows between unbounded preceding and 1 preceding
  ) as PREVIOUS_TRADING_DAY,
  min(case when IS_TRADING_DAY then DATE_DAY end) over (
    order by DATE_DAY rows between 1 following and unbounded following
  ) as NEXT_TRADING_DAY
from flags
