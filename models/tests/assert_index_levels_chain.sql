/*---
description: Each index level is the previous level times (1 + the day's return), starting at the base value.
---*/
select INDEX_CODE, TRADE_DATE, INDEX_LEVEL, EXPECTED_LEVEL
from (
  select
    INDEX_CODE,
    TRADE_DATE,
    INDEX_LEVEL,
    coalesce(
      lag(INDEX_LEVEL) over (partition by INDEX_CODE order by TRADE_DATE),
      BASE_VALUE
    ) * (1 + DAILY_RETURN_PCT / 100) as EXPECTED_LEVEL
  from {{ ref('gold_fct_index_performance') }}
) as chained
where abs(INDEX_LEVEL - EXPECTED_LEVEL) > 1e-6 * EXPECTED_LEVEL
