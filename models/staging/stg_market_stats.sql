-- One screener snapshot per ticker and snapshot date (the latest write wins), with the
-- position of the last price inside its 52-week range (0 = at the low, 1 = at the high).
select
  upper(trim(TICKER)) as TICKER,
  SNAPSHOT_DATE,
  LAST_PRICE,
  CHANGE_PCT,
  VOLUME,
  MARKET_CAP,
  PE_RATIO,
  PB_RATIO,
  DIVIDEND_YIELD,
  EPS_TTM,
  HIGH_52W,
  LOW_52W,
  case
    when HIGH_52W > LOW_52W then (LAST_PRICE - LOW_52W) / (HIGH_52W - LOW_52W)
  end as RANGE_52W_POSITION,
  case when PE_RATIO > 0 then 1 / PE_RATIO end as EARNINGS_YIELD,
  DATA_SOURCE,
  UPDATED_AT
from {{ source('operational', 'TBL_MARKET_STAT') }}
qualify row_number() over (
  partition by upper(trim(TICKER)), SNAPSHOT_DATE
  order by UPDATED_AT desc
) = 1
