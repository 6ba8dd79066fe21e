/*---
description: Every silver intraday bar still has a source row (incremental runs never delete, so a bar whose source rows were all deleted keeps its stale row until models_run --full-refresh; this reports it).
---*/
select b.TICKER, b.BAR_START, b.INTERVAL_MINUTES, b.DATA_SOURCE
from {{ ref('stg_intraday_bars') }} as b
left join {{ source('operational', 'TBL_INTRADAY_BAR') }} as s
  on upper(trim(s.TICKER)) = b.TICKER and s.BAR_START = b.BAR_START
  and s.INTERVAL_MINUTES = b.INTERVAL_MINUTES
where s.TICKER is null
