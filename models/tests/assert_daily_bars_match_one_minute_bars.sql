/*---
severity: warn
description: A BARS_1M daily bar agrees with the one-minute bars of that day (open of the first bar, close of the last, same volume, high and low), where both are loaded.
---*/
with minute_bars as (
  select
    TICKER,
    TRADE_DATE,
    OPEN,
    HIGH,
    LOW,
    CLOSE,
    VOLUME,
    row_number() over (partition by TICKER, TRADE_DATE order by BAR_START) as FROM_FIRST,
    row_number() over (partition by TICKER, TRADE_DATE order by BAR_START desc) as FROM_LAST
  from {{ ref('stg_intraday_bars') }}
  where INTERVAL_MINUTES = 1 and DATA_SOURCE = 'BARS_1M'
),
minute_days as (
  select
    TICKER,
    TRADE_DATE,
    max(case when FROM_FIRST = 1 then OPEN end) as OPEN,
    max(case when FROM_LAST = 1 then CLOSE end) as CLOSE,
    sum(VOLUME) as VOLUME,
    max(HIGH) as HIGH,
    min(LOW) as LOW
  from minute_bars
  group by TICKER, TRADE_DATE
)
select u.TICKER, u.TRADE_DATE, u.OPEN, m.OPEN as MINUTE_OPEN, u.CLOSE, m.CLOSE as MINUTE_CLOSE,
  u.VOLUME, m.VOLUME as MINUTE_VOLUME, u.HIGH, m.HIGH as MINUTE_HIGH, u.LOW, m.LOW as MINUTE_LOW
from {{ ref('stg_stock_prices_unified') }} as u
join minute_days as m on m.TICKER = u.TICKER and m.TRADE_DATE = u.TRADE_DATE
where u.DATA_SOURCE = 'BARS_1M'
  and (u.VOLUME <> m.VOLUME or abs(u.HIGH - m.HIGH) > 1e-9 or abs(u.LOW - m.LOW) > 1e-9
    or abs(u.OPEN - m.OPEN) > 1e-9 or abs(u.CLOSE - m.CLOSE) > 1e-9)
