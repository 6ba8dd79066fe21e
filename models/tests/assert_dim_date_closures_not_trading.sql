/*---
description: Every announced closure is a non-trading day in the calendar dimension.
---*/
select c.CLOSURE_DATE, c.NAME
from {{ source('operational', 'TBL_MARKET_CLOSURE') }} as c
left join {{ ref('gold_dim_date') }} as d on d.DATE_DAY = c.CLOSURE_DATE
where d.DATE_DAY is null or d.IS_TRADING_DAY
