/*---
severity: warn
description: A stock's membership periods in one index do not overlap (a newer list must close the older period with EFFECTIVE_TO). Where they do, gold_fct_index_performance counts the stock once a day, from the period that started last.
---*/
select a.INDEX_CODE, a.TICKER, a.EFFECTIVE_FROM, a.EFFECTIVE_TO,
  b.EFFECTIVE_FROM as OVERLAPPING_FROM, b.EFFECTIVE_TO as OVERLAPPING_TO
from {{ ref('stg_index_membership') }} as a
join {{ ref('stg_index_membership') }} as b
  on b.INDEX_CODE = a.INDEX_CODE
  and b.TICKER = a.TICKER
  and b.EFFECTIVE_FROM > a.EFFECTIVE_FROM
  and (a.EFFECTIVE_TO is null or a.EFFECTIVE_TO > b.EFFECTIVE_FROM)
