/*---
materialized: incremental
unique_key: [TICKER, BAR_START, INTERVAL_MINUTES]
---*/
-- One intraday bar per ticker, start instant and interval. The file bars (BARS_1M) win over the
-- stream's poll bars (STREAMING_API) for the same bar. BAR_START is UTC; BAR_START_CAIRO is the
-- Africa/Cairo wall-clock time (Egypt observes DST: never a fixed offset).
-- Incremental: bars whose source rows differ from what the built bar saw (another
-- SOURCE_FINGERPRINT, see stg_stock_prices_unified) are recomputed; unchanged bars are not.
with bars as (
  select
    upper(trim(TICKER)) as TICKER,
    BAR_START,
    INTERVAL_MINUTES,
    DATA_SOURCE,
    TRADE_DATE,
    OPEN,
    HIGH,
    LOW,
    CLOSE,
    VOLUME,
    UPDATED_AT,
    date_part(epoch_millisecond, UPDATED_AT) as UPDATED_MS,
    case DATA_SOURCE when 'BARS_1M' then 1 when 'STREAMING_API' then 2 else 9 end as SOURCE_RANK
  from {{ source('operational', 'TBL_INTRADAY_BAR') }}
),
{% if is_incremental() %}
source_keys as (
  select TICKER, BAR_START, INTERVAL_MINUTES, sum(UPDATED_MS) as FINGERPRINT
  from bars
  group by TICKER, BAR_START, INTERVAL_MINUTES
),
changed as (
  select k.TICKER, k.BAR_START, k.INTERVAL_MINUTES
  from source_keys as k
  left join {{ this }} as t
    on t.TICKER = k.TICKER and t.BAR_START = k.BAR_START
    and t.INTERVAL_MINUTES = k.INTERVAL_MINUTES
  where t.TICKER is null
    or t.SOURCE_FINGERPRINT <> k.FINGERPRINT
),
{% endif %}
keyed as (
  select
    b.*,
    max(b.UPDATED_AT) over (
      partition by b.TICKER, b.BAR_START, b.INTERVAL_MINUTES
    ) as SOURCE_UPDATED_AT,
    sum(b.UPDATED_MS) over (
      partition by b.TICKER, b.BAR_START, b.INTERVAL_MINUTES
    ) as SOURCE_FINGERPRINT
  from bars as b
  {% if is_incremental() %}
  join changed as c
    on c.TICKER = b.TICKER and c.BAR_START = b.BAR_START
    and c.INTERVAL_MINUTES = b.INTERVAL_MINUTES
  {% endif %}
)
select
  TICKER,
  TRADE_DATE,
  BAR_START,
  convert_timezone('UTC', 'Africa/Cairo', BAR_START) as BAR_START_CAIRO,
  INTERVAL_MINUTES,
  OPEN,
  HIGH,
  LOW,
  CLOSE,
  VOLUME,
  (HIGH + LOW + CLOSE) / 3 as TYPICAL_PRICE,
  DATA_SOURCE,
  SOURCE_UPDATED_AT,
  SOURCE_FINGERPRINT
from keyed
qualify row_number() over (
  partition by TICKER, BAR_START, INTERVAL_MINUTES
  order by SOURCE_RANK, UPDATED_AT desc
) = 1
