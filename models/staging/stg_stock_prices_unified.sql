/*---
materialized: incremental
unique_key: [TICKER, TRADE_DATE]
---*/
-- One daily bar per ticker and trade date across all sources. Source precedence (lower wins):
--   1 BATCH_CSV           the canonical daily file (official end-of-day data)
--   2 TRADINGVIEW_EXPORT  exported daily bars of the exchange feed
--   3 BARS_1M             daily bars aggregated from one-minute bars (complete sessions)
--   4 INVESTING_EXPORT    rounded volumes ("1.81M"), so below the exact sources
--   5 STREAMING_API       the live poll: today's bar until a batch source covers the day
-- Ties within a source cannot happen (the source table's key includes DATA_SOURCE).
-- Incremental: a (ticker, day) is recomputed from all of its sources when its sources differ
-- from what the built row saw: a new key, another number of sources, or another
-- SOURCE_FINGERPRINT (the sum of the source rows' UPDATED_AT as epoch milliseconds, so any write
-- to any of them shows: e.g. a later poll updating today's bar, even one committed late with an
-- older timestamp). Keys are compared, not dates, so a back-filled old day is picked up as
-- well, and an unchanged key is never redone. (The loaders never delete: a key whose source rows
-- were all deleted keeps its row until a --full-refresh.)
with prices as (
  select
    upper(trim(TICKER)) as TICKER,
    TRADE_DATE,
    DATA_SOURCE,
    OPEN,
    HIGH,
    LOW,
    CLOSE,
    VOLUME,
    UPDATED_AT,
    date_part(epoch_millisecond, UPDATED_AT) as UPDATED_MS,
    case DATA_SOURCE
      when 'BATCH_CSV' then 1
      when 'TRADINGVIEW_EXPORT' then 2
      when 'BARS_1M' then 3
      when 'INVESTING_EXPORT' then 4
      when 'STREAMING_API' then 5
      else 9
    end as SOURCE_RANK
  from {{ source('operational', 'TBL_STOCK_PRICE') }}
),
{% if is_incremental() %}
source_keys as (
  select TICKER, TRADE_DATE, count(*) as N_SOURCES, sum(UPDATED_MS) as FINGERPRINT
  from prices
  group by TICKER, TRADE_DATE
),
changed as (
  select k.TICKER, k.TRADE_DATE
  from source_keys as k
  left join {{ this }} as t on t.TICKER = k.TICKER and t.TRADE_DATE = k.TRADE_DATE
  where t.TICKER is null
    or t.SOURCE_COUNT <> k.N_SOURCES
    or t.SOURCE_FINGERPRINT <> k.FINGERPRINT
),
{% endif %}
keyed as (
  select
    p.TICKER,
    p.TRADE_DATE,
    p.DATA_SOURCE,
    p.OPEN,
    p.HIGH,
    p.LOW,
    p.CLOSE,
    p.VOLUME,
    p.UPDATED_AT,
    p.SOURCE_RANK,
    count(*) over (partition by p.TICKER, p.TRADE_DATE) as SOURCE_COUNT,
    max(p.UPDATED_AT) over (partition by p.TICKER, p.TRADE_DATE) as SOURCE_UPDATED_AT,
    sum(p.UPDATED_MS) over (partition by p.TICKER, p.TRADE_DATE) as SOURCE_FINGERPRINT
  from prices as p
  {% if is_incremental() %}
  join changed as c on c.TICKER = p.TICKER and c.TRADE_DATE = p.TRADE_DATE
  {% endif %}
)
select
  TICKER,
  TRADE_DATE,
  OPEN,
  HIGH,
  LOW,
  CLOSE,
  VOLUME,
  DATA_SOURCE,
  SOURCE_RANK,
  SOURCE_COUNT,
  SOURCE_UPDATED_AT,
  SOURCE_FINGERPRINT
from keyed
qualify row_number() over (
  partition by TICKER, TRADE_DATE
  order by SOURCE_RANK, UPDATED_AT desc
) = 1
