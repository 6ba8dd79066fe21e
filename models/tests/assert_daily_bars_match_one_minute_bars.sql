/*---
severity: warn
description: A BARS_1M daily bar agrees with the one-minute bars of that day (same volume, high and low), where both are loaded.
---*/
with minute_days as (
  select TICKER, TRADE_DATE, sum(VOLUME) as VOLUME, max(HIGH) as HIGH, min(LOW) as LOW
  from {{ ref('stg_intraday_bars') }}
  where INTERVAL_MINUTES = 1 and DATA_SOURCE = 'BARS_1M'
  group by TICKER, TRADE_DATE
)
select u.TICKER, u.TRADE_DATE, u.VOLUME, m.VOLUME as MINUTE_VOLUME, u.HIGH, m.HIGH as MINUTE_HIGH,
  u.LOW, m.LOW as MINUTE_LOW
from {{ ref('stg_stock_prices_unified') }} as u
join minute_days as m on m.TICKER = u.TICKER and m.TRADE_DATE = u.TRADE_DATE
where u.DATA_SOURCE = 'BARS_1M'
  and (u.VOLUME <> m.VOLUME or abs(u.HIGH - m.HIGH) > 1e-9 or abs(u.LOW - m.LOW) > 1e-9)
