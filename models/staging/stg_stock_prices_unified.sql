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
-- Incremental: every (ticker, day) with a source row written since the last build (minus an
-- hour, for writers whose transaction was still open during the last build) is recomputed
-- from all of its sources, so a later poll updating today's bar replaces it.
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
changed as (
  select distinct TICKER, TRADE_DATE
  from prices
  where UPDATED_AT > (
    select coalesce(max(SOURCE_UPDATED_AT), '1900-01-01'::TIMESTAMP_NTZ) - interval '1 hour'
    from {{ this }}
  )
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
    max(p.UPDATED_AT) over (partition by p.TICKER, p.TRADE_DATE) as SOURCE_UPDATED_AT
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
  SOURCE_UPDATED_AT
from keyed
qualify row_number() over (
  partition by TICKER, TRADE_DATE
  order by SOURCE_RANK, UPDATED_AT desc
) = 1
