/*---
description: The calendar's trading days are the days that are neither a Friday or Saturday (counted in days from Friday 2000-01-07, not from the model's weekday columns) nor an announced closure in OPERATIONAL.TBL_MARKET_CLOSURE.
---*/
with closures as (
  select distinct CLOSURE_DATE from {{ source('operational', 'TBL_MARKET_CLOSURE') }}
),
expected as (
  select
    d.DATE_DAY,
    d.IS_TRADING_DAY,
    d.IS_WEEKEND,
    d.IS_CLOSURE,
    mod(datediff(day, '2000-01-07'::DATE, d.DATE_DAY), 7) in (0, 1) as FRI_OR_SAT,
    c.CLOSURE_DATE is not null as ANNOUNCED_CLOSURE
  from {{ ref('gold_dim_date') }} as d
  left join closures as c on c.CLOSURE_DATE = d.DATE_DAY
)
select DATE_DAY, IS_TRADING_DAY, IS_WEEKEND, IS_CLOSURE, FRI_OR_SAT, ANNOUNCED_CLOSURE
from expected
where IS_TRADING_DAY <> (not FRI_OR_SAT and not ANNOUNCED_CLOSURE)
  or IS_WEEKEND <> FRI_OR_SAT
  or IS_CLOSURE <> ANNOUNCED_CLOSURE
